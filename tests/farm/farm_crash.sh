#!/usr/bin/env bash
# kill -9 of `vsl serve` after every step of `vsl farm apply` and after every
# step of `vsl farm destroy` (crash point farm.step, exhaustively), on the
# same data directory and catalog: after a restart, one more apply gives a
# ready farm in which every host reads its image at LUN 0 and sees exactly
# its own LUNs through the gateway, and one more destroy leaves every host
# idle, every volume free and scrubbed, and no request pending.
#
# A farm of 3 servers (power none), each with a boot disk at target 0 copied
# from an image, a data disk at target 1 and the farm-global disk at target 2.
# Iteration i kills apply after its step i (recovers, checks), then kills
# destroy after its step i (recovers, checks); an iteration that ends dirty
# is followed by a fresh data directory (and database).
# Then the same with kills inside the storage manager's operations in the
# middle of a step (op.* crash points, docs/crash-points.md).
#   farm_crash.sh VSL   (API_CATALOG=sqlite|pg; for debugging,
#                        FARM_CRASH_STEPS="3 7" runs only those step indexes,
#                        FARM_CRASH_MID="" none of the mid-step kills)
set -uo pipefail
VSL=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../api/lib.sh"
source "$HERE/lib.sh"
source "$HERE/crash_lib.sh"
e2e_init 840
catalog_init

HOSTS=(h1 h2 h3)
IMG=$E2E_TMP/img.raw
head -c $((1 << 20)) /dev/urandom >"$IMG"
FML=$E2E_TMP/crash.fml
three_server_farm crash "$FML"

# fresh_env: a new data directory (and, on PostgreSQL, a new database) with
# the three hosts and the image; no serve left running.
ENVS=0
fresh_env() {
  ENVS=$((ENVS + 1))
  DATA=$E2E_TMP/data.$ENVS
  if [[ $API_CATALOG == pg ]]; then pg_new_database "vsl_crash_$ENVS" || fail_now "createdb failed"; fi
  crash_serve "$DATA" "" --default-capacity 1GiB || fail_now "vsl serve did not start: $(tail -5 "$SERVE_LOG")"
  for h in "${HOSTS[@]}"; do add_host "$h" x86-vm || fail_now "host add $h"; done
  v image import img "$IMG" >/dev/null || fail_now "image import"
  crash_serve_stop || fail_now "vsl serve did not stop cleanly"
  log "fresh data directory $DATA${CATALOG_URL:+ on $CATALOG_URL}"
}

serve_up() {  # CRASH_AT
  crash_serve "$DATA" "$1" || fail_now "vsl serve did not start on $DATA: $(tail -5 "$SERVE_LOG")"
}

# pattern HOST: the byte each host writes to its disks.
pattern() {
  local k
  for k in "${!HOSTS[@]}"; do [[ ${HOSTS[$k]} == "$1" ]] && echo $((0x41 + k)); done
}

# ready_problems: what is wrong with the farm as `vsl farm apply` promised
# it (empty when nothing). Writes each host's pattern on its data disk and
# on its slice of the shared disk, so that destroy has data to scrub.
ready_problems() {
  local show vols h p k n left f
  left=$(requests_settled 10)
  [[ -z $left ]] || echo "requests still pending: $left"
  show=$(tv farm show crash 2>&1)
  grep -q '^farm crash: ready$' <<<"$show" || echo "farm show: $(head -1 <<<"$show")"
  n=$(grep -c '(mapped' <<<"$show")
  [[ $n == 7 ]] || echo "farm show lists $n mapped disks, not 7 (3 boot, 3 data, 1 global)"
  n=$(grep -c 'LUN 2: shared global disk shared' <<<"$show")
  [[ $n == 3 ]] || echo "farm show lists the shared disk on $n servers, not 3"
  tv farm plan "$FML" 2>&1 | grep -q 'No changes' || echo "farm plan: $(tv farm plan "$FML" 2>&1 | tail -3 | tr '\n' ' ')"
  vols=$(tv volume list --all --json) || echo "volume list failed"
  n=$(jq '[.volumes[] | select(.parent_id == null and .state != "free")] | length' <<<"$vols")
  [[ $n == 8 ]] || echo "$n volumes in use, not 8 (the image master and 7 units): $(jq -c \
    '[.volumes[] | select(.parent_id == null and .state != "free") | "\(.id):\(.state)"]' <<<"$vols")"
  n=$(jq '[.volumes[] | select(.state == "mapped" and .parent_id == null)] | length' <<<"$vols")
  [[ $n == 7 ]] || echo "$n units mapped, not 7"
  n=$(tv host list --json | jq '[.hosts[] | select(.state == "in-farm")] | length')
  [[ $n == 3 ]] || echo "$n hosts in the farm, not 3"
  for f in $(unknown_array_files "$DATA"); do echo "array file $f is unknown to the catalog (leaked)"; done
  local served=1
  for h in "${HOSTS[@]}"; do
    n=$(host_luns "$h")
    [[ $n == "0 1 2" ]] || { echo "host $h sees LUNs [$n], not [0 1 2]"; served=0; }
    host_lun_is_image "$h" 0 "$IMG" >/dev/null 2>&1 || echo "host $h does not read the image at LUN 0"
  done
  [[ $served == 1 ]] || return 0
  # Each host writes its own data disk and its slice of the shared disk...
  for h in "${HOSTS[@]}"; do
    p=$(pattern "$h")
    k=$((p - 0x41))
    host_qemu_io "$h" 1 "write -P $p 0 64k" >/dev/null 2>&1 || echo "host $h cannot write LUN 1"
    host_qemu_io "$h" 2 "write -P $p $((k * 65536)) 64k" >/dev/null 2>&1 || echo "host $h cannot write LUN 2"
  done
  # ... and then reads its own data disk back (not another host's) and every
  # host's slice of the shared one.
  for h in "${HOSTS[@]}"; do
    p=$(pattern "$h")
    out=$(host_qemu_io "$h" 1 "read -P $p 0 64k" 2>&1)
    grep -q 'read 65536/65536' <<<"$out" && ! grep -qi 'fail' <<<"$out" ||
      echo "host $h does not read its own data back from LUN 1: $(head -2 <<<"$out" | tr '\n' ' ')"
    local reads=()
    for k in "${!HOSTS[@]}"; do reads+=("read -P $((0x41 + k)) $((k * 65536)) 64k"); done
    out=$(host_qemu_io "$h" 2 "${reads[@]}" 2>&1)
    [[ $(grep -c 'read 65536/65536' <<<"$out") == "${#HOSTS[@]}" ]] && ! grep -qi 'fail' <<<"$out" ||
      echo "host $h does not read every host's data on the shared LUN 2: $(grep -i fail <<<"$out" | head -2 | tr '\n' ' ')"
  done
}

# gone_problems: what is wrong after `vsl farm destroy` (empty when nothing).
gone_problems() {
  local out vols master h n
  out=$(tv farm show crash 2>&1) && echo "farm show still shows the farm: $(head -1 <<<"$out")"
  grep -q 'not_found' <<<"$out" || echo "farm show does not say not_found: $(head -1 <<<"$out")"
  tv farm list 2>&1 | grep -q '^crash ' && echo "farm list still lists crash: $(tv farm list | grep '^crash ')"
  n=$(tv host list --json | jq -r '[.hosts[] | select(.state != "idle") | "\(.name):\(.state)"] | join(" ")')
  [[ -z $n ]] || echo "hosts not idle: $n"
  for h in "${HOSTS[@]}"; do
    n=$(host_luns "$h")
    [[ -z $n ]] || echo "host $h still sees LUNs [$n]"
  done
  master=$(tv image list --json | jq -r '.images[] | select(.name == "img") | .master_volume_id')
  vols=$(tv volume list --all --json) || echo "volume list failed"
  n=$(jq -r --argjson m "${master:-0}" \
    '[.volumes[] | select(.id != $m and (.state != "free" or .clean != true)) | "\(.id):\(.state)\(if .clean then "" else ",not-clean" end)"] | join(" ")' \
    <<<"$vols")
  [[ -z $n ]] || echo "volumes not free and clean: $n"
  # The array's files: every one known to the catalog, and none but the
  # image master's holds a non-zero byte.
  local f id
  declare -A id_of=()
  while read -r f id; do id_of[$f]=$id; done < <(jq -r '.volumes[] | select(.array == "default") | "\(.array_volume) \(.id)"' <<<"$vols")
  for f in "$DATA"/arrays/default/volumes/*; do
    [[ -e $f ]] || continue
    id=${id_of[${f##*/}]:-}
    if [[ -z $id ]]; then
      echo "array file ${f##*/} is unknown to the catalog"
    elif [[ $id != "$master" ]]; then
      n=$(tr -d '\0' <"$f" | wc -c)
      [[ $n == 0 ]] || echo "volume $id (${f##*/}) holds $n non-zero bytes after destroy"
    fi
  done
  local left
  left=$(requests_settled 10)
  [[ -z $left ]] || echo "requests still pending: $left"
}

# steps_of FILE: N of the "[i/N]" progress lines of a farm command.
steps_of() { sed -n 's/^\[[0-9]*\/\([0-9]*\)\].*/\1/p' "$1" | tail -1; }

log "a clean apply and destroy, to count their steps"
fresh_env
serve_up ""
tv farm apply "$FML" >"$E2E_TMP/apply.out" 2>&1 || fail_now "the clean apply failed: $(tail -5 "$E2E_TMP/apply.out")"
A=$(steps_of "$E2E_TMP/apply.out")
check_eq "a clean apply gives the farm promised" "" "$(ready_problems)"
tv farm destroy crash >"$E2E_TMP/destroy.out" 2>&1 || fail_now "the clean destroy failed: $(tail -5 "$E2E_TMP/destroy.out")"
D=$(steps_of "$E2E_TMP/destroy.out")
check_eq "a clean destroy gives everything back" "" "$(gone_problems)"
crash_serve_stop
log "apply: $A steps, destroy: $D steps"
[[ $A -ge 20 && $D -ge 20 ]] || fail_now "too few steps counted (apply $A, destroy $D)"

READY_SAYS="the farm is ready and served"
GONE_SAYS="nothing is held, every volume scrubbed"

MAX=$((A > D ? A : D))
STEPS=${FARM_CRASH_STEPS-$(seq "$MAX")}
START=$(date +%s)
# After every step of apply and of destroy.
for i in $STEPS; do
  iteration "$( ((i <= A)) && echo "farm.step:$i")" "$( ((i <= D)) && echo "farm.step:$i")"
done
# In the middle of steps: inside the storage manager's operations that the
# steps run (docs/crash-points.md), at a pass in the middle of the farm.
MID=(
  "op.allocate-unit.allocated:4 op.unmap.unmapped:4"
  "op.copy.copied:2 op.unbind.revoked:3"
  "op.bind.granted:5 op.scrub.marked:3"
  "op.map.mapped:6 op.scrub.wiped:5"
  "op.map.end:3 op.free.step:4"
  "op.allocate-unit.end:5 op.free.end:2"
)
[[ -n ${FARM_CRASH_MID+x} ]] && read -ra MID <<<"$FARM_CRASH_MID"
for pair in "${MID[@]}"; do
  read -r pa pd <<<"$pair"
  iteration "$pa" "$pd"
done
log "$(($(echo $STEPS | wc -w) + ${#MID[@]})) kill points each of apply and destroy in $(($(date +%s) - START)) s, $ENVS data directories"
e2e_finish
