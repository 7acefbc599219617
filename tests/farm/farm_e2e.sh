#!/usr/bin/env bash
# The farm manager end to end through the real binary, with QEMU hosts:
# the seed's example farm and the two-tier example boot every host from its
# own LUN 0; the shared disk is one disk for both database servers; a grown
# disk shows its new capacity; a server is added and removed; destroy scrubs,
# and the next farm reads zeros.
#   farm_e2e.sh VSL
set -uo pipefail
VSL=$(realpath "$1")
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/lib.sh"
e2e_init 600

data=$E2E_TMP/data
farm_serve "$data" --power qemu-direct
# The planner takes hosts by name: web-1 web-2 db-1 db-2, then the h5extra.
for h in h1web h2web h3db h4db h5extra; do add_host "$h" x86-vm; done
add_host sun1 cpu-sun4u-x4
"$ROOT/scripts/make-farm-image.sh" "$E2E_TMP/demo.img" 1M
check "import the demo image" v image import demo "$E2E_TMP/demo.img"
check "import it as solaris too" v image import solaris "$E2E_TMP/demo.img"

log "the seed's example farm"
check "plan seed-farm" v farm plan "$ROOT/examples/seed-farm.fml"
check "apply seed-farm" v farm apply "$ROOT/examples/seed-farm.fml"
check "sun1 boots from its 8631 MiB LUN 0" console_ready sun1
check "sun1 names itself" bash -c "'$VSL' host console sun1 | grep -q '^vsl-farm: booted host sun1 server seed-farm-Server1-1'"
check "sun1 sees 8631 MiB" bash -c "'$VSL' host console sun1 | grep -q 'disk 0x80: 17676288 sectors (8631 MiB)'"
check "farm show: backup policy" bash -c "'$VSL' farm show seed-farm | grep -q 'backup-policy nightly'"

log "the two-tier example"
# Its database boot disks ask for raid-level 0+1: only "mirror" has it.
check "add the raid=0+1 array" v array add mirror --driver file --path "$E2E_TMP/mirror" --capacity 1GiB \
  --quality raid=0+1
two=$(fml_copy "$ROOT/examples/two-tier.fml" two-tier)
check "apply two-tier" v farm apply "$two"
for h in h1web h2web h3db h4db; do
  check "$h boots" console_ready "$h"
  check "$h boots its own disk" bash -c "'$VSL' host console $h | grep -q '^vsl-farm: booted host $h server two-tier-'"
done
for h in h3db h4db; do
  check "$h sees the shared disk" bash -c "'$VSL' host console $h | grep -q 'disk 0x81: 65536 sectors (32 MiB)'"
done
for s in db-1 db-2; do
  check "two-tier-$s's boot disk lies on mirror" bash -c \
    "'$VSL' farm show two-tier | grep -A1 'server two-tier-$s ' | grep -q 'LUN 0: .*(mapped, on mirror), raid-level 0+1'"
done
check "two-tier-web-1's boot disk, asking nothing, stays off mirror" bash -c \
  "'$VSL' farm show two-tier | grep -A1 'server two-tier-web-1 ' | grep -q 'LUN 0: .*(mapped, on default)'"
check_not "h1web has no second disk" bash -c "'$VSL' host console h1web | grep -q 'disk 0x81'"
plan=$(v farm plan "$two")
check "a second apply plans nothing" grep -q "No changes: farm two-tier matches its definition" <<<"$plan"
check "and does nothing" bash -c "'$VSL' farm apply '$two' | grep -q 'No changes'"

log "the shared disk: each database server reads the other's writes"
check "h3db writes" lun_io h3db 1 "write -P 0x5a 0 64k"
check "h4db reads h3db's write" lun_io h4db 1 "read -P 0x5a 0 64k"
check "h4db writes" lun_io h4db 1 "write -P 0xa5 1M 64k"
check "h3db reads h4db's write" lun_io h3db 1 "read -P 0xa5 1M 64k"
check_fails "h1web cannot open h3db's target" lun_io h1web 1 "read 0 512"

log "grow the shared disk and a boot disk"
grown=$(fml_copy "$two" two-tier 's/drivesize="32MB"/drivesize="48MB"/')
sed -i '0,/drivesize="64MB"/s//drivesize="96MB"/' "$grown"
check "plan shows the growth" bash -c "'$VSL' farm plan '$grown' | grep -q '0 to add, 3 to change, 0 to remove'"
check "apply the growth" v farm apply "$grown"
check_eq "h3db sees the shared disk at 48 MiB" "$(lun_size h3db 1)" $((48 << 20))
check_eq "h4db sees it too" "$(lun_size h4db 1)" $((48 << 20))
check_eq "h1web's boot disk is 96 MiB" "$(lun_size h1web 0)" $((96 << 20))
check "the data stayed" lun_io h4db 1 "read -P 0x5a 0 64k"
shrunk=$(fml_copy "$grown" two-tier 's/drivesize="48MB"/drivesize="40MB"/')
out=$(v farm apply "$shrunk" 2>&1)
check_ne "shrinking is refused" "$?" 0
check "with a clear error" grep -q "shrinking a disk is refused" <<<"$out"

log "add a server, then remove it"
more=$(fml_copy "$grown" two-tier '0,/<init-servers>2</s//<init-servers>3</')
check "apply three web servers" v farm apply "$more"
check "h5extra boots" console_ready h5extra
check "h5extra is the third web server" bash -c "'$VSL' host console h5extra | grep -q 'server two-tier-web-3'"
check "write on h5extra's disk" lun_io h5extra 0 "write -P 0x77 2M 1M"
check "apply two web servers" v farm apply "$grown"
check "h5extra is idle again" bash -c "'$VSL' host list | grep -E '^h5extra +x86-vm +idle'"
check_fails "h5extra's LUN 0 is gone" lun_io h5extra 0 "read 0 512"

log "add a disk to the web servers, then take it away"
# A second private disk at target 2 of the web role, after its boot disk.
extra=$(fml_copy "$grown" two-tier '0,/<\/disk>/s//<\/disk>\n    <disk target="2" drivetype="scsi" drivesize="16MB" \/>/')
check "plan adds one disk per web server" bash -c "'$VSL' farm plan '$extra' | grep -q '2 to add, 0 to change, 0 to remove'"
check "apply the new disk" v farm apply "$extra"
for h in h1web h2web; do
  check_eq "$h sees a 16 MiB LUN 2" "$(lun_size $h 2)" $((16 << 20))
done
check "h1web writes its new disk" lun_io h1web 2 "write -P 0x3c 0 64k"
check "h2web's new disk is its own" lun_io h2web 2 "read -P 0 0 64k"
check "farm show lists it" bash -c "'$VSL' farm show two-tier | grep -A3 'server two-tier-web-1 ' | grep -q 'LUN 2: 16 MiB'"
check "apply without it" v farm apply "$grown"
check_fails "h1web's LUN 2 is gone" lun_io h1web 2 "read 0 512"
check "h1web keeps its boot disk" lun_io h1web 0 "read 0 512"

log "destroy, then the next farm reads zeros"
check "write on h1web's disk" lun_io h1web 0 "write -P 0x99 4M 1M"
check "destroy two-tier" v farm destroy two-tier
check "destroy seed-farm" v farm destroy seed-farm
check_fails "two-tier is gone" v farm show two-tier
check_eq "every host is idle" "$(v host list | awk 'NR > 1 && $3 != "idle"')" ""
blank=$(fml_copy "$two" blank '/<diskimage/d' 's/<farm fmlversion="1.2">/<farm fmlversion="1.2" name="blank">/')
check "apply a farm of blank disks" v farm apply "$blank"
# Whichever hosts the blank farm took: every LUN they have reads as zeros.
for h in h1web h2web h3db h4db h5extra; do
  if v host list | grep -qE "^$h +x86-vm +idle"; then continue; fi
  check "$h's LUN 0 reads zeros" lun_io "$h" 0 "read -P 0 0 64M"
done
check "destroy blank" v farm destroy blank
# Only the two image masters are still held.
v image list --json >"$E2E_TMP/images.json"
v volume list --json >"$E2E_TMP/volumes.json"
check_eq "no volume is held but the image masters" "$(python3 - "$E2E_TMP/images.json" "$E2E_TMP/volumes.json" <<'PY'
import json, sys
def rows(path, key):
    d = json.load(open(path))
    return d.get(key, d) if isinstance(d, dict) else d
masters = {i.get("master_volume_id") for i in rows(sys.argv[1], "images")}
held = [v["id"] for v in rows(sys.argv[2], "volumes") if v["state"] != "free" and v["id"] not in masters]
print(held)
PY
)" "[]"
check "serve stops" farm_serve_stop
e2e_finish
