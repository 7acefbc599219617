#!/usr/bin/env bash
# An image's master volume served read-only to two hosts through the real
# binary and real initiators: imported, bound --read-only to r1 and r2 and
# mapped; both read the image's bytes (qemu-img); a WRITE(10) from either
# gets CHECK CONDITION, DATA PROTECT / WRITE PROTECTED (27h/00h); MODE SENSE
# sets WP; iscsi-test-cu's ALL.ReadOnly family passes (not skips) on the LU;
# nothing the hosts sent reached the image; a read-write bind of the master
# (and a write-bound unit bound read-only elsewhere) is refused before
# anything is queued, naming the volume and the image (the other host);
# scrub, free, image remove and a second import under the image's name are
# refused while it is bound (the last two listing the hosts); unmapping and
# unbinding r1 leaves r2 reading; the unit is never scrubbed while it is the
# image's master; image remove waits for disks copied from it, then scrubs
# and frees the master. Usage: readonly.sh VSL   (API_CATALOG=sqlite|pg)
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 300
catalog_init
serve_start "$E2E_TMP/data"

WP=$E2E_TMP/iscsi_wp
gcc -O1 -o "$WP" "$HERE/../tools/iscsi_wp.c" -liscsi || fail_now "cannot build tests/tools/iscsi_wp.c"

IMG=$E2E_TMP/image.raw
python3 - "$IMG" <<'PY'
import sys
# 4 MiB; every 512-byte block names itself, so a block out of place shows.
with open(sys.argv[1], "wb") as f:
    for b in range(4 * 2048):
        f.write((b"ro-block-%08d;" % b).ljust(512, b"."))
PY
SIZE=$(stat -c %s "$IMG")

S1=0123456789abcdef-r1
S2=0123456789abcdef-r2
check "host r1 added" v host add r1 --hw std --initiator iqn.2026-11.org.test:r1 --chap-secret "$S1"
check "host r2 added" v host add r2 --hw std --initiator iqn.2026-11.org.test:r2 --chap-secret "$S2"
check "image deb imported" v image import deb "$IMG"
M=$(ajson GET /v1/images | jq -r '.images[] | select(.name == "deb") | .master_volume_id')
check "the image has a master volume" test "$M" -gt 0

url() { echo "iscsi://$1%$2@$PORTAL/iqn.2026-11.org.vsl:$1/$3"; }
qread() {
  local opts="driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$1,lun=$3,initiator-name=iqn.2026-11.org.test:$1,user=$1,password-secret=sec0"
  timeout 60 qemu-img convert --object "secret,id=sec0,data=$2" --image-opts "$opts" -O raw "$4"
}
requests() { ajson GET "/v1/requests?limit=1000" | jq '.requests | length'; }

log "a read-write bind of the master is refused before anything is queued"
before=$(requests)
out=$(api POST /v1/disks/bind?wait=true "{\"volume\":$M,\"host\":\"r1\",\"lun\":0}")
check_eq "HTTP 409" 409 "$(tail -1 <<<"$out")"
check_eq "failed_precondition" failed_precondition "$(sed '$d' <<<"$out" | jq -r .error.code)"
check "the message names the volume and the image" \
  grep -qF "volume $M is the master of image 'deb'" <<<"$(sed '$d' <<<"$out" | jq -r .error.message)"
check_fails "the CLI refuses it too" v disk bind "$M" --host r1 --lun 0
check_eq "no request was queued" "$before" "$(requests)"
check_eq "the master is still configured and unbound to anyone" "configured 0" \
  "$(ajson GET "/v1/volumes/$M" | jq -r '"\(.state) \(.bindings | length)"')"

log "bound read-only to r1 (LUN 0) and r2 (LUN 3), mapped"
check "bind --read-only to r1" v disk bind "$M" --host r1 --lun 0 --read-only
check "bind --read-only to r2" v disk bind "$M" --host r2 --lun 3 --read-only
check "map" v disk map "$M"
check_eq "both bindings are read-only and mapped" "r1 0 true true,r2 3 true true" \
  "$(ajson GET "/v1/volumes/$M" | jq -r '[.bindings[] | "\(.host) \(.lun) \(.read_only) \(.mapped)"] | join(",")')"
check "volume show says read-only and names the image" \
  bash -c "'$VSL' volume show $M | grep -q 'bound to host r2 at LUN 3 read-only (mapped)' &&
           '$VSL' volume show $M | grep -q 'master of image deb'"
check "host show has the ACCESS column" bash -c "'$VSL' host show r1 | grep -E '^0 .* read-only'"

log "both hosts read the image"
check "r1 reads LUN 0" qread r1 "$S1" 0 "$E2E_TMP/r1.raw"
check "r1's bytes are the image's" cmp -n "$SIZE" "$IMG" "$E2E_TMP/r1.raw"
check "r2 reads LUN 3" qread r2 "$S2" 3 "$E2E_TMP/r2.raw"
check "r2's bytes are the image's" cmp -n "$SIZE" "$IMG" "$E2E_TMP/r2.raw"

log "writes get DATA PROTECT, MODE SENSE says WP"
check_eq "a write from r1: CHECK CONDITION, DATA PROTECT, WRITE PROTECTED" "status=2 key=07 asc=27 ascq=00" \
  "$("$WP" iqn.2026-11.org.test:r1 "$(url r1 "$S1" 0)" write 0)"
check_eq "a write from r2: the same" "status=2 key=07 asc=27 ascq=00" \
  "$("$WP" iqn.2026-11.org.test:r2 "$(url r2 "$S2" 3)" write 100)"
check_eq "MODE SENSE for r1 sets WP" wp=1 "$("$WP" iqn.2026-11.org.test:r1 "$(url r1 "$S1" 0)" modesense)"
check_eq "MODE SENSE for r2 sets WP" wp=1 "$("$WP" iqn.2026-11.org.test:r2 "$(url r2 "$S2" 3)" modesense)"

log "iscsi-test-cu ALL.ReadOnly against r1's LU"
timeout 120 iscsi-test-cu -d -v -i iqn.2026-11.org.test:r1 -t ALL.ReadOnly "$(url r1 "$S1" 0)" \
  >"$E2E_TMP/cu.out" 2>&1
python3 "$HERE/../e2e/cunit_results.py" "$E2E_TMP/cu.out" >"$E2E_TMP/cu.results"
sed 's/^/    /' "$E2E_TMP/cu.results"
check "ReadOnly.ReadOnlySBC ran and passed (not skipped)" grep -qx "ReadOnly.ReadOnlySBC passed" "$E2E_TMP/cu.results"
check_not "no ReadOnly test failed or skipped" grep -qE ' (failed|skipped)$' "$E2E_TMP/cu.results"
check "r2 still reads exactly the image" qread r2 "$S2" 3 "$E2E_TMP/r2b.raw"
check "unchanged" cmp -n "$SIZE" "$IMG" "$E2E_TMP/r2b.raw"

log "nothing may write or drop the shared master"
check_fails "a unit bound read-only elsewhere is not bound read-write" v disk bind "$M" --host r1 --lun 9
out=$(v disk scrub "$M" 2>&1)
check_ne "scrub fails" 0 "$?"
check "scrub is refused naming the image" grep -qF "master of image 'deb'" <<<"$out"
out=$(api POST /v1/disks/free?wait=true "{\"volume\":$M}")
check "free is refused naming the image" grep -qF "master of image 'deb'" <<<"$(sed '$d' <<<"$out" | jq -r '.error.message // .request.reason')"
echo "other bytes" >"$E2E_TMP/other.raw"
out=$(v image import deb "$E2E_TMP/other.raw" 2>&1)
check_ne "an import of other bytes under the name deb is refused" 0 "$?"
check "and the refusal lists the hosts holding the master" grep -qF "bound read-only to hosts r1, r2" <<<"$out"
before=$(requests)
out=$(v image remove deb 2>&1)
check_ne "image remove is refused while the master is bound" 0 "$?"
check "and lists the hosts holding it" grep -qF "is bound to hosts r1 (mapped), r2 (mapped)" <<<"$out"
check_eq "and queued nothing" "$before" "$(requests)"
check "the image is still there" ajson GET /v1/images/deb
check_eq "the master is still mapped to both" "mapped 2" \
  "$(ajson GET "/v1/volumes/$M" | jq -r '"\(.state) \(.bindings | length)"')"

log "r1 leaves; r2 keeps reading"
check "unmap r1" v disk unmap "$M" --host r1
check "unbind r1" v disk unbind "$M" --host r1
check_fails "r1 no longer reads LUN 0" qread r1 "$S1" 0 "$E2E_TMP/r1gone.raw"
check "r2 reads LUN 3" qread r2 "$S2" 3 "$E2E_TMP/r2c.raw"
check "still the image" cmp -n "$SIZE" "$IMG" "$E2E_TMP/r2c.raw"
check_eq "the master is mapped, to r2 only" "mapped r2" \
  "$(ajson GET "/v1/volumes/$M" | jq -r '"\(.state) \([.bindings[].host] | join(","))"')"

log "r2 leaves too: unbound, never scrubbed, bound again after a restart"
check "unmap" v disk unmap "$M"
check "unbind" v disk unbind "$M"
check_eq "unbound" unbound "$(vol_state "$M")"
check_not "no scrub ever ran on it" bash -c "'$VSL' events --entity volume --id $M | grep -q scrub"
check "vsl serve stops cleanly" serve_stop
serve_start "$E2E_TMP/data"
check "bound read-only to r2 again after the restart" v disk bind "$M" --host r2 --lun 3 --read-only
check "mapped again" v disk map "$M"
check "r2 reads the image" qread r2 "$S2" 3 "$E2E_TMP/r2d.raw"
check "the image's bytes" cmp -n "$SIZE" "$IMG" "$E2E_TMP/r2d.raw"
check_eq "writes still get DATA PROTECT after the restart" "status=2 key=07 asc=27 ascq=00" \
  "$("$WP" iqn.2026-11.org.test:r2 "$(url r2 "$S2" 3)" write 7)"
check "a copy of the image onto a disk still works" bash -c \
  "u=\$('$VSL' disk allocate --size 4MiB --unit --json | jq -r .result.volume) && '$VSL' disk copy \$u --image deb"

log "the image goes once nobody holds it and no disk holds a copy"
COPY=$(ajson GET /v1/volumes | jq -r --argjson m "$M" '[.volumes[] | select(.image_id != null and .id != $m) | .id][0]')
check "unmap the master" v disk unmap "$M"
check "unbind the master" v disk unbind "$M"
out=$(v image remove deb 2>&1)
check_ne "image remove is refused while a disk holds a copy" 0 "$?"
check "naming that disk" grep -qF "volumes $COPY hold copies of it" <<<"$out"
check "free the copy" v disk free "$COPY"
check "image remove" v image remove deb
check_eq "the image is gone" 404 "$(api GET /v1/images/deb | tail -1)"
check_eq "its master is free and clean" "free true" "$(ajson GET "/v1/volumes/$M" | jq -r '"\(.state) \(.clean)"')"
F=$VSL_DATA/arrays/default/volumes/$(ajson GET "/v1/volumes/$M" | jq -r .array_volume)
check "its array file reads zero" cmp -n "$(stat -c %s "$F")" "$F" /dev/zero
check "vsl serve stops cleanly again" serve_stop
e2e_finish
