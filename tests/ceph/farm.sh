#!/usr/bin/env bash
# The two-tier example farm on an rbd array, with QEMU hosts (issue 9): every
# host boots from its LUN 0 (an RBD image served through librbd inside vsl
# serve), the database servers share one RBD disk, destroy scrubs the images,
# and a new farm on the same pool reads zeros. Then a farm whose boot disk
# cannot fit in one array and is concatenated from an rbd member and a file
# member, booted the same way.
# The default file array holds only the image's master (1 MiB).
#   farm.sh VSL
set -uo pipefail
VSL=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../farm/lib.sh"
source "$HERE/../lib/ceph.sh"
e2e_init 400

ceph_e2e_start
admin_rbd() { ceph_admin_rbd "$@"; }
rbd_args=(--driver rbd --pool "$VSL_CEPH_POOL" --ceph-conf "$VSL_CEPH_CONF" --ceph-user "$VSL_CEPH_USER" --keyring "$VSL_CEPH_KEYRING")

FARM_CAPACITY=1MiB farm_serve "$E2E_TMP/data" --power qemu-direct
for h in h1web h2web h3db h4db; do add_host "$h" x86-vm; done
"$ROOT/scripts/make-farm-image.sh" "$E2E_TMP/demo.img" 1M
check "import the demo image" v image import demo "$E2E_TMP/demo.img"
# The database boot disks ask for raid-level 0+1; r1 has it, and is the only
# array with room for anything.
check "rbd array r1 added" v array add r1 "${rbd_args[@]}" --capacity 512MiB --quality raid=0+1

log "the two-tier example on rbd"
two=$(fml_copy "$ROOT/examples/two-tier.fml" two-tier)
check "apply two-tier" v farm apply "$two"
for h in h1web h2web h3db h4db; do
  check "$h boots from its LUN 0 on rbd" console_ready "$h"
  check "$h boots its own disk" bash -c "'$VSL' host console $h | grep -q '^vsl-farm: booted host $h server two-tier-'"
done
for h in h3db h4db; do
  check "$h sees the shared disk" bash -c "'$VSL' host console $h | grep -q 'disk 0x81: 65536 sectors (32 MiB)'"
done
check_eq "every disk of the farm is on r1 (4 boot disks and the shared one)" 5 \
  "$(v farm show two-tier | grep -c '(mapped, on r1)')"
# The demo image's master lies on the file array: r1 got a copy of it once,
# and the boot disks are clones of that copy.
MASTER=$(v image show demo --json | jq -r '.masters[] | select(.array == "r1" and (.primary | not)) | .volume_id')
check_ne "r1 holds a master copy of the image" "$MASTER" ""
MASTER_IMAGE=$(v volume list --all --json | jq -r --argjson m "${MASTER:-0}" '.volumes[] | select(.id == $m) | "vsl-r1-\(.array_volume)"')
check_eq "6 RBD images of r1 in the pool (the farm's 5 and the master copy)" 6 "$(admin_rbd ls | grep -c '^vsl-r1-vol-')"
check_eq "the 4 boot disks are clones of the master copy" 4 \
  "$(v image show demo --json | jq --argjson m "${MASTER:-0}" '.masters[] | select(.volume_id == $m) | .clones | length')"

log "the shared disk"
check "h3db writes" lun_io h3db 1 "write -P 0x5a 0 64k"
check "h4db reads h3db's write" lun_io h4db 1 "read -P 0x5a 0 64k"
check "h4db writes" lun_io h4db 1 "write -P 0xa5 1M 64k"
check "h3db reads h4db's write" lun_io h3db 1 "read -P 0xa5 1M 64k"

log "destroy scrubs; the next farm reads zeros"
check "write on h1web's disk" lun_io h1web 0 "write -P 0x99 4M 1M"
check "destroy two-tier" v farm destroy two-tier
check_eq "every host is idle" "" "$(v host list | awk 'NR > 1 && $3 != "idle"')"
mapped=""
for i in $(admin_rbd ls | grep '^vsl-r1-vol-'); do
  [[ $i == "$MASTER_IMAGE" ]] && continue
  [[ $(admin_rbd diff "$i" --format json) == "[]" ]] || mapped+=" $i"
done
check_eq "no image of r1 but the master copy maps data after destroy" "" "$mapped"
check_eq "every unit of r1 but the master copy is free and clean" "" \
  "$(v volume list --all --json | jq -r --argjson m "${MASTER:-0}" '[.volumes[] | select(.array == "r1" and .id != $m and (.state != "free" or .clean != true)) | .id] | join(" ")')"
blank=$(fml_copy "$two" blank '/<diskimage/d' 's/<farm fmlversion="1.2">/<farm fmlversion="1.2" name="blank">/')
check "apply a farm of blank disks on the same pool" v farm apply "$blank"
check_eq "its disks are on r1 too" 5 "$(v farm show blank | grep -c '(mapped, on r1)')"
for h in h1web h2web h3db h4db; do
  check "$h's LUN 0 reads zeros" lun_io "$h" 0 "read -P 0 0 64M"
done
check "h3db's shared LUN 1 reads zeros" lun_io h3db 1 "read -P 0 0 32M"
check "destroy blank" v farm destroy blank

log "a boot disk concatenated from an rbd member and a file member"
# The raid=5 storage is two pre-carved 32 MiB volumes, one an RBD image and
# one a file: a 64 MiB disk is both, concatenated by the allocator.
check "rbd array r5 (one 32 MiB volume, raid=5)" v array add r5 "${rbd_args[@]}" --capacity 32MiB \
  --volume-size 32MiB --quality raid=5
check "file array f5 (one 32 MiB volume, raid=5)" v array add f5 --path "$E2E_TMP/f5" --capacity 32MiB \
  --volume-size 32MiB --quality raid=5
mixed=$(fml_copy "$two" mixed 's/<farm fmlversion="1.2">/<farm fmlversion="1.2" name="mixed">/' \
  's/<init-servers>2</<init-servers>1</' 's/<min-servers>2</<min-servers>1</' \
  's/<attribute name="raid-level" value="0+1" \/>/<attribute name="raid-level" value="5" \/>/')
check "apply the mixed farm" v farm apply "$mixed"
DB=$(v farm show mixed | sed -n 's/.*server mixed-db-1 .*host \([a-z0-9]*\).*/\1/p' | head -1)
[[ -n $DB ]] || DB=$(v host list | awk 'NR > 1 && $3 != "idle" && $1 ~ /db/ {print $1; exit}')
log "mixed-db-1 runs on $DB"
vols=$(v volume list --all --json)
U=$(jq -r '[.volumes[] | select(.parent_id != null)] | group_by(.parent_id)[] |
  select(([.[].array] | sort | join(" ")) == "f5 r5") | .[0].parent_id' <<<"$vols")
check_ne "a unit of two members, one on r5 (rbd) and one on f5 (file)" "$U" ""
check_eq "... is mapped" mapped "$(jq -r --argjson u "${U:-0}" '.volumes[] | select(.id == $u) | .state' <<<"$vols")"
check "... as $DB's LUN 0" bash -c "'$VSL' farm show mixed | grep -A1 'server mixed-db-1 ' | grep -q 'LUN 0: .*, volume $U (mapped'"
check "$DB boots from the concatenated LUN 0" console_ready "$DB"
check "$DB boots its own disk" bash -c "'$VSL' host console $DB | grep -q '^vsl-farm: booted host $DB server mixed-db-'"
check "$DB writes across the whole disk" lun_io "$DB" 0 "write -P 0x42 0 64M"
check "... and reads it back" lun_io "$DB" 0 "read -P 0x42 0 64M"
check "destroy mixed" v farm destroy mixed
check_eq "the mixed disk's members are free and clean" "" \
  "$(v volume list --all --json | jq -r '[.volumes[] | select((.array == "r5" or .array == "f5") and (.state != "free" or .clean != true)) | .id] | join(" ")')"
check "serve stops" farm_serve_stop
e2e_finish
