#!/usr/bin/env bash
# Clones are clones (issue 9): on a throw-away Ceph cluster (tests/lib/ceph.sh)
# a farm of 100 servers whose boot disks come from a 1 GiB image of random
# bytes applies on an rbd array with the pool's used bytes (`rbd du`) growing
# by one master copy of the image and almost nothing per server; a host's
# writes to its clone are seen by nobody else (not another host, not the
# masters); `vsl disk flatten` detaches a clone and is refused on what is no
# clone; `vsl image remove` is refused while clones live, naming them, and
# afterwards takes the pool's master copy and its snapshot along; a kill -9
# of `vsl serve` at each step of making a clone (and the pool's master copy)
# converges when the request runs again.
#   clones.sh VSL
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../api/lib.sh"
source "$HERE/../lib/ceph.sh"
api_suite "$1" 540 farm/crash_lib

SERVERS=${CLONES_SERVERS:-100}
GiB=$((1 << 30))
MiB=$((1 << 20))
VSL_CEPH_OSD_SIZE=$((16 * GiB)) ceph_e2e_start
admin_rbd() { VSL_CEPH_RBD_TIMEOUT=120 ceph_admin_rbd "$@"; }
# pool_used: bytes the pool's images (and their snapshots) hold, per rbd du.
pool_used() { admin_rbd du --format json 2>/dev/null | jq '.total_used_size // 0'; }
now_ms() { date +%s%3N; }

DATA=$E2E_TMP/data
serve_up() {  # CRASH_AT
  crash_serve "$DATA" "$1" --workers 4 || fail_now "vsl serve did not start: $(tail -5 "$SERVE_LOG")"
}
serve_up ""
check "rbd array r1 added (class=performance)" v array add r1 "${RBD_ARGS[@]}" --capacity 256GiB \
  --quality class=performance

# The image: 1 GiB of random bytes, imported onto the default file array
# (the allocator prefers the array with no qualities beyond those asked).
head -c $GiB /dev/urandom >"$E2E_TMP/os.raw"
check "image os (1 GiB of random bytes) imported" v image import os "$E2E_TMP/os.raw"
OS_MASTER=$(ajson GET /v1/images/os | jq -r .master_volume_id)
check_eq "its master lies on the default file array" default "$(ajson GET "/v1/volumes/$OS_MASTER" | jq -r .array)"

# ---- a farm of $SERVERS servers on r1 ----
TOKEN=$(cat "$DATA/admin.token")
for ((i = 1; i <= SERVERS; i++)); do
  h=$(printf 'h%03d' "$i")
  jq -cn --arg n "$h" '{name: $n, hw: "x86-vm", initiators: ["iqn.2026-11.org.example:" + $n],
                       chap_secret: ("secret-of-" + $n + "-0123")}'
done | while read -r body; do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary "$body" "$VSL_API/v1/hosts"
done >"$E2E_TMP/hosts.codes"
check_eq "$SERVERS hosts added" "$SERVERS" "$(grep -c '^20[01]$' "$E2E_TMP/hosts.codes")"
clone_farm_fml many "$SERVERS" 1GiB os >"$E2E_TMP/farm.fml"
USED0=$(pool_used)
t0=$(now_ms)
check "farm of $SERVERS servers applied on r1" timeout 600 "$VSL" farm apply "$E2E_TMP/farm.fml"
t1=$(now_ms)
USED1=$(pool_used)
APPLY_MS=$((t1 - t0))
GROWTH=$((USED1 - USED0))
PER_SERVER=$(((GROWTH - GiB) / SERVERS))
log "apply of $SERVERS servers on rbd: ${APPLY_MS} ms; pool used bytes ${USED0} -> ${USED1}: +${GROWTH}" \
  "($(python3 -c "print(f'{$GROWTH / $GiB:.3f}')") images; beyond the one master copy $PER_SERVER bytes per server)"
check "the pool grew by less than 2 images for $SERVERS servers (+$GROWTH bytes)" test "$GROWTH" -lt $((2 * GiB))
check "... and at least one image: the pool's master copy (+$GROWTH bytes)" test "$GROWTH" -ge "$GiB"
ajson GET /v1/images/os >"$E2E_TMP/os.json"
check_eq "image os has two masters: the imported one and r1's copy" "default:true r1:false" \
  "$(jq -r '[.masters[] | "\(.array):\(.primary)"] | join(" ")' "$E2E_TMP/os.json")"
check_eq "every boot disk is a clone of r1's copy" "$SERVERS" \
  "$(jq '.masters[] | select(.array == "r1") | .clones | length' "$E2E_TMP/os.json")"
check "vsl image show lists both masters" bash -c "'$VSL' image show os | grep -q 'r1 *copy for clones *$SERVERS'"
R1_MASTER=$(jq '.masters[] | select(.array == "r1") | .volume_id' "$E2E_TMP/os.json")
R1_MASTER_IMG=vsl-r1-$(ajson GET "/v1/volumes/$R1_MASTER" | jq -r .array_volume)
check "r1's master copy holds the image" cmp <(admin_rbd export "$R1_MASTER_IMG" - 2>/dev/null) "$E2E_TMP/os.raw"
check "... with its clone base snapshot, protected" \
  bash -c "$(declare -f admin_rbd ceph_admin_rbd); admin_rbd snap ls $R1_MASTER_IMG --format json | jq -e '.[] | select(.name == \"vsl-master\" and .protected == \"true\")'"

# Whose boot unit is whose: host name -> unit id.
unit_of() {
  ajson GET "/v1/hosts/$1" | jq -r '.bindings[] | select(.lun == 0) | .volume_id'
}
U1=$(unit_of h001)
U2=$(unit_of h002)
IMG1=vsl-r1-$(ajson GET "/v1/volumes/$U1" | jq -r '.members[0].array_volume')
check_eq "h001's boot disk (a 1-member unit) is a clone of r1's master copy" "$R1_MASTER" \
  "$(ajson GET "/v1/volumes/$U1" | jq -r .clone_of)"
check "... and so says Ceph" bash -c "$(declare -f admin_rbd ceph_admin_rbd); admin_rbd info $IMG1 | grep -q 'parent: $VSL_CEPH_POOL/$R1_MASTER_IMG@vsl-master'"

# ---- isolation: h001 writes its clone through the gateway ----
check "h002 reads its LUN 0 through the gateway: the image" host_lun_is_image h002 0 "$E2E_TMP/os.raw"
check "h001 writes 1 MiB of 0x5a at 8 MiB of its LUN 0 (FUA)" host_qemu_io h001 0 "write -f -P 0x5a 8M 1M"
OUT=$(host_qemu_io h001 0 "read -P 0x5a 8M 1M" 2>&1)
check "h001 reads it back" grep -q 'read 1048576/1048576' <<<"$OUT"
check_not "... with no pattern failure" grep -qi 'fail' <<<"$OUT"
check "h002's LUN 0 still reads as the image (not h001's write)" host_lun_is_image h002 0 "$E2E_TMP/os.raw"
H100=$(printf 'h%03d' "$SERVERS")
check "$H100's too" host_lun_is_image "$H100" 0 "$E2E_TMP/os.raw"
check "r1's master copy is unchanged" cmp <(admin_rbd export "$R1_MASTER_IMG" - 2>/dev/null) "$E2E_TMP/os.raw"
OS_FILE=$DATA/arrays/default/volumes/$(ajson GET "/v1/volumes/$OS_MASTER" | jq -r .array_volume)
check "the imported master is unchanged" cmp -n $GiB "$OS_FILE" "$E2E_TMP/os.raw"

# ---- Snap (BCV) on rbd: a clone of a snapshot of h001's disk ----
B=$(v disk allocate --size 1GiB --quality class=performance --unit --json | jq -r .result.volume)
BIMG=vsl-r1-$(ajson GET "/v1/volumes/$B" | jq -r .array_volume)
check_eq "snap of h001's mapped boot disk into a BCV on r1" done \
  "$(ajson POST '/v1/disks/snap?wait=true' "{\"volume\": $U1, \"bcv\": $B}" | jq -r .request.state)"
check "the BCV is a clone of a snapshot of h001's disk" \
  bash -c "$(declare -f admin_rbd ceph_admin_rbd); admin_rbd info $BIMG | grep -q 'parent: $VSL_CEPH_POOL/$IMG1@vsl.bcv.'"
bcv_at_8m() { admin_rbd export "$BIMG" - 2>/dev/null | tail -c +$((8 * MiB + 1)) | head -c $MiB; }
check "the BCV holds h001's write" cmp <(bcv_at_8m) <(head -c $MiB /dev/zero | tr '\0' '\132')
check "h001 writes 0x6b over it afterwards" host_qemu_io h001 0 "write -f -P 0x6b 8M 1M"
check "the BCV still holds the point in time" cmp <(bcv_at_8m) <(head -c $MiB /dev/zero | tr '\0' '\132')

# ---- removal refused while clones live; flatten ----
check_fails "image os cannot be removed while clones of it live" v image remove os
check "... saying how many disks are clones, naming them and their hosts" \
  grep -q "$SERVERS disks are clones of its master: volumes .*$U1 (host h001)" "$E2E_TMP/check.$E2E_CHECKS.out"
check_eq "image os is still there" os "$(ajson GET /v1/images/os | jq -r .name)"
check_fails "flatten of a mapped clone is refused" v disk flatten "$U1"
check "... saying it is mapped, to whom" grep -q "is mapped to hosts h001" "$E2E_TMP/check.$E2E_CHECKS.out"
FV=$(v disk allocate --size 1MiB --unit --json | jq -r .result.volume)
check_eq "a unit on the default file array" default "$(ajson GET "/v1/volumes/$FV" | jq -r .array)"
check_fails "flatten of a file-array volume is refused" v disk flatten "$FV"
check "... saying it is no clone, on an array that makes none" \
  grep -q "volume $FV is not a clone of an image master (it lies on array 'default', driver file, which makes no clones)" \
  "$E2E_TMP/check.$E2E_CHECKS.out"
check_fails "flatten of an image master is refused" v disk flatten "$R1_MASTER"
UC=$(v disk allocate --size 1GiB --quality class=performance --unit --json | jq -r .result.volume)
check "a unit on r1 gets the image" v disk copy "$UC" --image os
check_eq "... as a clone of r1's master copy" "$R1_MASTER" "$(ajson GET "/v1/volumes/$UC" | jq -r .clone_of)"
ICLONE=vsl-r1-$(ajson GET "/v1/volumes/$UC" | jq -r .array_volume)
check "vsl disk flatten detaches it" v disk flatten "$UC"
check_eq "the catalog no longer calls it a clone" null "$(ajson GET "/v1/volumes/$UC" | jq -r .clone_of)"
check_not "Ceph shows no parent" bash -c "$(declare -f admin_rbd ceph_admin_rbd); admin_rbd info $ICLONE | grep -q parent"
check "it still holds the image" cmp <(admin_rbd export "$ICLONE" - 2>/dev/null) "$E2E_TMP/os.raw"
check_fails "flatten again is refused: it is no clone any more" v disk flatten "$UC"

# ---- destroy: the clones go; then the image can go, with r1's master copy ----
check "farm destroyed (scrubs every clone)" timeout 600 "$VSL" farm destroy many
check_eq "no clone is left of r1's master copy" 0 \
  "$(ajson GET /v1/images/os | jq '.masters[] | select(.array == "r1") | .clones | length')"
check "image os removed (the flattened disk does not count)" v image remove os
check_eq "the image is gone" 404 "$(api GET /v1/images/os | tail -1)"
check_not "r1's master copy is gone from the pool, snapshot and all" \
  bash -c "$(declare -f admin_rbd ceph_admin_rbd); admin_rbd snap ls $R1_MASTER_IMG 2>/dev/null | grep -q vsl-master"
check "... its volume scrubbed and free" test "$(vol_state "$R1_MASTER")" = free
check "the flattened disk is still there, with the image's bytes" \
  cmp <(admin_rbd export "$ICLONE" - 2>/dev/null) "$E2E_TMP/os.raw"
check "the BCV kept its point in time when h001's disk was scrubbed" \
  cmp <(bcv_at_8m) <(head -c $MiB /dev/zero | tr '\0' '\132')
check_not "... as its own copy (no parent)" bash -c "$(declare -f admin_rbd ceph_admin_rbd); admin_rbd info $BIMG | grep -q parent"

# ---- kill -9 at each step of a clone, then the request runs again ----
head -c $((4 * MiB)) /dev/urandom >"$E2E_TMP/small.raw"
head -c $((4 * MiB)) /dev/urandom >"$E2E_TMP/small2.raw"
check "image small (4 MiB) imported onto the file array" v image import small "$E2E_TMP/small.raw"
check "image small2 (4 MiB) imported onto the file array" v image import small2 "$E2E_TMP/small2.raw"
# crash_case POINT IMAGE TAKEN: a new unit on r1, `disk copy --image IMAGE` with
# the serve armed to die at POINT; after the restart the request converges:
# the unit is a clone of r1's copy of IMAGE, holds it, r1 has one copy of
# it, nothing is left set aside, the request holds TAKEN volumes.
crash_case() {
  local point=$1 image=$2 u req m img
  u=$(tv disk allocate --size 8MiB --quality class=performance --unit --json | jq -r .result.volume)
  check "vsl serve stops for the crash case $point" crash_serve_stop
  serve_up "$point:1"
  req=$(tv disk copy "$u" --image "$image" --no-wait)
  check "vsl serve killed itself at $point" crash_serve_died "$point" 1
  serve_up ""
  check_eq "after the restart no request is left unfinished ($point)" "" "$(requests_settled 60)"
  check_eq "the copy request is done ($point)" done "$(tv queue show "${req//[^0-9]/}" | jq -r .state)"
  m=$(ajson GET "/v1/images/$image" | jq '.masters[] | select(.array == "r1") | .volume_id')
  check_eq "unit $u is a clone of r1's copy of $image ($point)" "$m" "$(ajson GET "/v1/volumes/$u" | jq -r .clone_of)"
  check_eq "r1 holds one copy of $image ($point)" 1 \
    "$(ajson GET "/v1/images/$image" | jq '[.masters[] | select(.array == "r1")] | length')"
  img=vsl-r1-$(ajson GET "/v1/volumes/$u" | jq -r .array_volume)
  check "it holds the image, then zeros ($point)" \
    cmp <(admin_rbd export "$img" - 2>/dev/null) <(cat "$E2E_TMP/$image.raw"; head -c $((4 * MiB)) /dev/zero)
  check_not "no image is left set aside ($point)" \
    bash -c "$(declare -f admin_rbd ceph_admin_rbd); admin_rbd ls | grep -q '\\.clone\$'"
  # Nothing leaked: the request holds the master copy it made, or nothing.
  check_eq "the request took $3 volumes ($point)" "$3" \
    "$(ajson GET '/v1/volumes?x=1' | jq --argjson q "${req//[^0-9]/}" '[.volumes[] | select(.request_id == $q)] | length')"
}
# small's first copy onto r1 makes r1's copy of it and dies after taking the
# snapshot clones hang from; small2's dies before its copy is recorded.
crash_case rbd.clone.snapped small 1
for point in rbd.clone.aside rbd.clone.cloned op.copy.cloned; do
  crash_case "$point" small 0
done
crash_case op.copy.master-copied small2 1

# A kill after Ceph flattened a clone and before the catalog knows: after the
# restart the request converges and the disk is no clone, with its bytes.
U=$(tv disk allocate --size 8MiB --quality class=performance --unit --json | jq -r .result.volume)
check "a unit on r1 gets image small (a clone) for the flatten kill" tv disk copy "$U" --image small
check "vsl serve stops for the flatten kill" crash_serve_stop
serve_up "op.flatten.flat:1"
req=$(tv disk flatten "$U" --no-wait)
check "vsl serve killed itself at op.flatten.flat" crash_serve_died op.flatten.flat 1
serve_up ""
check_eq "after the restart no request is left unfinished (flatten)" "" "$(requests_settled 60)"
check_eq "the flatten request is done" done "$(tv queue show "${req//[^0-9]/}" | jq -r .state)"
check_eq "the catalog no longer calls unit $U a clone" null "$(ajson GET "/v1/volumes/$U" | jq -r .clone_of)"
img=vsl-r1-$(ajson GET "/v1/volumes/$U" | jq -r .array_volume)
check_not "Ceph shows no parent for it" bash -c "$(declare -f admin_rbd ceph_admin_rbd); admin_rbd info $img | grep -q parent"
check "it holds the image, then zeros (flatten)" \
  cmp <(admin_rbd export "$img" - 2>/dev/null) <(cat "$E2E_TMP/small.raw"; head -c $((4 * MiB)) /dev/zero)
check_eq "the crash cases left four clones of small" 4 \
  "$(ajson GET /v1/images/small | jq '[.masters[] | select(.array == "r1") | .clones | length] | add')"
check_eq "... and one of small2" 1 \
  "$(ajson GET /v1/images/small2 | jq '[.masters[] | select(.array == "r1") | .clones | length] | add')"

check "vsl serve stops" crash_serve_stop
log "figures: $SERVERS-server farm on rbd applied in ${APPLY_MS} ms; pool growth ${GROWTH} bytes" \
  "(${PER_SERVER} bytes per server beyond the master copy)"
e2e_finish
