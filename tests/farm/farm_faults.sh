#!/usr/bin/env bash
# Faults under apply, through the real binary: a fault-injecting file array
# (vsl serve --test-faults) fails each array operation an apply makes in
# turn (the 1st, 2nd, 3rd call of it), and the gateway fails a map. Each
# time: the apply fails, `vsl farm show` explains it, no volume is held that
# the farm record does not account for, the next apply completes, and after
# destroy nothing is held but the image masters.
#   farm_faults.sh VSL
set -uo pipefail
VSL=$(realpath "$1")
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/lib.sh"
e2e_init 600

data=$E2E_TMP/data
# A default array just big enough for the image; the farm lands on "faulty"
# (raid=0+1, as the database disks of two-tier ask).
FARM_CAPACITY=2MiB farm_serve "$data" --power none --test-faults
check "add the fault-injecting array" v array add faulty --driver fault:file --path "$E2E_TMP/faulty" --capacity 2GiB \
  --quality raid=0+1
for h in h1web h2web h3db h4db; do add_host "$h" x86-vm; done
"$ROOT/scripts/make-farm-image.sh" "$E2E_TMP/demo.img" 1M
check "import the demo image" v image import demo "$E2E_TMP/demo.img"
two=$(fml_copy "$ROOT/examples/two-tier.fml" two-tier)

# arm BODY: POST /v1/test/faults.
arm() {
  curl -sf -X POST -H "Authorization: Bearer $(cat "$data/admin.token")" -H 'Content-Type: application/json' \
    -d "$1" "$VSL_API/v1/test/faults" >/dev/null
}

# held_outside_record: top-level volumes held that are neither an image
# master nor a unit of the farm's record (empty when nothing leaked).
held_outside_record() {
  v image list --json >"$E2E_TMP/images.json"
  v volume list --json >"$E2E_TMP/volumes.json"
  if v farm show two-tier --json >"$E2E_TMP/farm.json" 2>/dev/null; then :; else echo '{}' >"$E2E_TMP/farm.json"; fi
  python3 - "$E2E_TMP/images.json" "$E2E_TMP/volumes.json" "$E2E_TMP/farm.json" <<'PY'
import json, sys
def rows(path, key):
    d = json.load(open(path))
    return d.get(key, d) if isinstance(d, dict) else d
known = {i.get("master_volume_id") for i in rows(sys.argv[1], "images")}
farm = json.load(open(sys.argv[3]))
for s in farm.get("servers", []):
    known |= {d["unit"] for d in s["disks"]}
known |= {g["unit"] for g in farm.get("global_disks", [])}
known |= set(farm.get("leftovers", []))
print(sorted(v["id"] for v in rows(sys.argv[2], "volumes")
             if v["state"] != "free" and v["id"] not in known and not v.get("parent_id")))
PY
}

hits=0
run_case() {
  local what=$1 body=$2 heal=$3
  log "fault: $what"
  arm "$body" || fail_now "cannot arm $body"
  if v farm apply "$two" >"$E2E_TMP/apply.out" 2>&1; then
    arm "$heal"
    echo "    (the fault was not reached: the apply made fewer calls)"
    check "destroy" v farm destroy two-tier
    return 1
  fi
  hits=$((hits + 1))
  arm "$heal"
  check "the failure names the step" grep -q "failed" "$E2E_TMP/apply.out"
  check "farm show explains it" bash -c "'$VSL' farm show two-tier | grep -q 'last failure: step .* Apply again'"
  check "farm list says failed" bash -c "'$VSL' farm list | grep -qE '^two-tier +failed'"
  check_eq "nothing held outside the farm record" "$(held_outside_record)" "[]"
  check "the next apply completes" v farm apply "$two"
  check "the farm is ready" bash -c "'$VSL' farm show two-tier | grep -q '^farm two-tier: ready'"
  check "and complete" bash -c "'$VSL' farm plan '$two' | grep -q 'No changes'"
  check "destroy" v farm destroy two-tier
  check_eq "nothing held after destroy" "$(held_outside_record)" "[]"
  check_eq "every host is idle" "$(v host list | awk 'NR > 1 && $3 != "idle"')" ""
}

for op in create stat copy grant; do
  for nth in 1 2 3; do
    run_case "$op #$nth" "{\"array\":\"faulty\",\"op\":\"$op\",\"nth\":$nth}" \
      "{\"array\":\"faulty\",\"op\":\"$op\",\"heal\":true}" || break
  done
done
for nth in 1 4; do
  run_case "gateway map #$nth" "{\"op\":\"gateway-map\",\"nth\":$nth}" '{"op":"gateway-map","heal":true}'
done
check "faults hit at least 10 times" test "$hits" -ge 10

# Growing disks under faults: the storage manager's grow gives back what it
# took and leaves the disk as it was; the next apply grows it.
grown=$(fml_copy "$two" two-tier 's/drivesize="32MB"/drivesize="48MB"/' '0,/drivesize="64MB"/s//drivesize="96MB"/')
for op in create grant; do
  log "fault during grow: $op #1"
  check "apply two-tier" v farm apply "$two"
  arm "{\"array\":\"faulty\",\"op\":\"$op\",\"nth\":1}" || fail_now "cannot arm $op"
  check_fails "the growing apply fails" v farm apply "$grown"
  arm "{\"array\":\"faulty\",\"op\":\"$op\",\"heal\":true}"
  check "farm show names the grow" bash -c "'$VSL' farm show two-tier | grep -q 'last failure: step .*grow'"
  check_eq "nothing held outside the farm record" "$(held_outside_record)" "[]"
  check "the global disk is still 32 MiB" bash -c "'$VSL' farm show two-tier | grep -q 'global disk db-data: 32 MiB'"
  check "the next apply grows it" v farm apply "$grown"
  check "the global disk is 48 MiB" bash -c "'$VSL' farm show two-tier | grep -q 'global disk db-data: 48 MiB'"
  check "and the farm is complete" bash -c "'$VSL' farm plan '$grown' | grep -q 'No changes'"
  check "destroy" v farm destroy two-tier
  check_eq "nothing held after destroy" "$(held_outside_record)" "[]"
done
check "serve stops" farm_serve_stop
e2e_finish
