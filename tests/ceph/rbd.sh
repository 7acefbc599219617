#!/usr/bin/env bash
# rbd arrays against a real, throw-away Ceph cluster (tests/lib/ceph.sh: one
# monitor, one OSD, cephx, started once for the whole script): the driver's
# own tests (rbd_array_test, as vsl's least-privilege user client.vsl), then
# `vsl array add --driver rbd` through the real `vsl serve` API: discovery
# lists the array's images (and only them) into the catalog and the DWML,
# the keyring's secret reaches neither the catalog nor the API, a bad pool or
# keyring is refused naming it, an RBD unit mapped and driven by qemu-img and
# qemu-io over iSCSI (FUA, SYNCHRONIZE CACHE, UNMAP, GET LBA STATUS, the
# exclusive lock, a restart while mapped), a meta volume of a file-array and
# an rbd member as one LUN, and the array comes back after a
# restart.
# Usage: rbd.sh VSL RBD_ARRAY_TEST
set -uo pipefail
VSL=$1
RBD_TEST=$2
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../api/lib.sh"
source "$HERE/../lib/ceph.sh"
e2e_init 240

ceph_e2e_start
log "cluster up in ${VSL_CEPH_START_MS} ms; monitor + OSD resident: $(ceph_rss_kib "$CLUSTER") KiB"
admin_rbd() { ceph_admin_rbd "$@"; }

# ---- the driver, through its C++ interface ----
check "rbd_array_test (driver against the cluster)" "$RBD_TEST" --gtest_color=no
log "after the driver tests: monitor + OSD resident: $(ceph_rss_kib "$CLUSTER") KiB"

# ---- through vsl serve ----
catalog_init
serve_start "$E2E_TMP/data"
rbd_args=(--driver rbd --pool "$VSL_CEPH_POOL" --ceph-conf "$VSL_CEPH_CONF" --ceph-user "$VSL_CEPH_USER" --keyring "$VSL_CEPH_KEYRING")
check "rbd array r1 added (8 volumes of 32 MiB)" \
  v array add r1 "${rbd_args[@]}" --capacity 256MiB --volume-size 32MiB --quality media=ceph
check_eq "discovery put r1's 8 volumes into the catalog" 8 \
  "$(ajson GET /v1/arrays | jq '.arrays[] | select(.name=="r1") | .volumes')"
check_eq "r1's driver is rbd" rbd "$(ajson GET /v1/arrays/r1 | jq -r .driver)"
ajson GET /v1/arrays/r1 | jq -r .dwml >"$E2E_TMP/r1.dwml"
check "the DWML names the rbd device" grep -q 'driver="rbd"' "$E2E_TMP/r1.dwml"
check "the DWML lists vol-0008 as an RBD image" grep -q "path=\"rbd:$VSL_CEPH_POOL/vsl-r1-vol-0008\"" "$E2E_TMP/r1.dwml"
check_eq "the catalog keeps the pool" "$VSL_CEPH_POOL" "$(ajson GET /v1/arrays/r1 | jq -r .config.pool)"
check_eq "the catalog keeps the keyring's path" "$VSL_CEPH_KEYRING" "$(ajson GET /v1/arrays/r1 | jq -r .config.keyring)"

# Images that are not r1's stay out; one made under r1's pattern comes in.
check "an image of somebody else's made" admin_rbd create --size 4M someone-elses-disk
check "an image under r1's pattern made" admin_rbd create --size 4M vsl-r1-vol-0042
check "discover r1" v array discover r1
check_eq "r1 now has 9 volumes (vol-0042 joined, someone-elses-disk did not)" 9 \
  "$(ajson GET '/v1/volumes?array=r1' | jq '[.volumes[] | select(.vanished | not)] | length')"
check_not "someone-elses-disk is in no array's DWML" grep -q someone-elses-disk <(ajson GET /v1/arrays/r1 | jq -r .dwml)

check "a pool-mode rbd array r2 added" v array add r2 "${rbd_args[@]}" --capacity 64MiB
check_eq "r2 has no volumes yet" 0 "$(ajson GET /v1/arrays | jq '.arrays[] | select(.name=="r2") | .volumes')"

key=$(awk '$1 == "key" {print $3}' "$VSL_CEPH_KEYRING")
[[ -n $key ]] || fail_now "no key in $VSL_CEPH_KEYRING"
check_not "the secret is in no API reply" grep -qF "$key" <(ajson GET /v1/arrays; ajson GET /v1/arrays/r1)
check_not "the secret is nowhere in the data directory (catalog)" grep -rqF "$key" "$E2E_TMP/data"

# Refusals name what is wrong and change nothing.
check_fails "a pool that does not exist is refused" v array add r3 --driver rbd --pool no-such-pool \
  --ceph-conf "$VSL_CEPH_CONF" --ceph-user "$VSL_CEPH_USER" --keyring "$VSL_CEPH_KEYRING" --capacity 64MiB
check "... naming the pool" grep -q "no-such-pool" "$E2E_TMP/check.$E2E_CHECKS.out"
printf '[client.%s]\n\tkey = AQBQ1WZlAAAAABAAcaZ1t7lGxb3/x1u9e0YmQg==\n' "$VSL_CEPH_USER" >"$E2E_TMP/wrong.keyring"
check_fails "a keyring with a key the cluster does not know is refused" v array add r3 "${rbd_args[@]::8}" \
  --keyring "$E2E_TMP/wrong.keyring" --capacity 64MiB
check "... naming the keyring file" grep -q "$E2E_TMP/wrong.keyring" "$E2E_TMP/check.$E2E_CHECKS.out"
check_fails "--path with --driver rbd is refused" v array add r3 "${rbd_args[@]}" --path /tmp --capacity 64MiB
check_eq "no array r3 was made" 404 "$(api GET /v1/arrays/r3 | tail -1)"

# FIG. 7 on an rbd volume, through the manager, with a real initiator: the
# image's master (on the default file array) copied onto it, bind grants the
# gateway on the image itself, map serves the image through librbd inside
# vsl serve; qemu-img and qemu-io read and write it over iSCSI (FUA,
# SYNCHRONIZE CACHE, UNMAP, GET LBA STATUS) and what they write is in the
# image for any other Ceph client; a second gateway process cannot open the
# image for writing (exclusive lock); unbind revokes the grant, scrub leaves
# an image of zeros.
MiB=$((1 << 20))
head -c $((3 * MiB)) /dev/urandom >"$E2E_TMP/boot.raw"
check "image boot imported" v image import boot "$E2E_TMP/boot.raw"
v host add h1 --hw std --initiator iqn.2026-11.org.test:h1 --json >"$E2E_TMP/h1.json"
check "host h1 added" test -s "$E2E_TMP/h1.json"
S1=$(jq -r .chap_secret "$E2E_TMP/h1.json")
U=$(ajson POST '/v1/disks/allocate-unit?wait=true' '{"size": 33554432, "qualities": {"media": "ceph"}}' | jq -r .result.volume)
IMG=vsl-r1-$(ajson GET "/v1/volumes/$U" | jq -r .array_volume)
check_eq "a 32 MiB unit allocated on r1" "r1 configured" "$(ajson GET "/v1/volumes/$U" | jq -r '.array + " " + .state')"
check "the image copied onto it" v disk copy "$U" --image boot
image_bytes() { admin_rbd export "$IMG" - 2>/dev/null; }  # the image as another Ceph client reads it
check "the RBD image holds the image's bytes" cmp -n $((3 * MiB)) <(image_bytes) "$E2E_TMP/boot.raw"
check "bind to h1" v disk bind "$U" --host h1 --lun 0
has_grant() { admin_rbd image-meta get "$IMG" vsl.grants 2>/dev/null | grep -q iqn; }
check "the gateway's grant is on the image" has_grant
check "map of the RBD volume" v disk map "$U"
check_eq "the unit is mapped" mapped "$(vol_state "$U")"

OPTS="driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:h1,lun=0,initiator-name=iqn.2026-11.org.test:h1,user=h1,password-secret=sec0"
SEC=(--object "secret,id=sec0,data=$S1")
qread() { timeout 60 qemu-img convert "${SEC[@]}" --image-opts "$OPTS" -O raw "$1"; }
# qio EXPECT CMD...: qemu-io commands on LUN 0; its output must hold EXPECT
# (qemu-io exits 0 even when a command fails).
qio() {
  local expect=$1 out
  shift
  local args=()
  for c in "$@"; do args+=(-c "$c"); done
  out=$(timeout 60 qemu-io "${SEC[@]}" --image-opts "$OPTS" "${args[@]}" 2>&1)
  echo "$out"
  grep -q "$expect" <<<"$out"
}
bytes_of() { head -c "$1" /dev/zero | tr '\0' "$2"; }  # N bytes of one value (octal)
at() { tail -c +$(($1 + 1)); }                          # stdin from byte offset N

check "qemu-img reads LUN 0 (the RBD image)" qread "$E2E_TMP/read1.raw"
check_eq "LUN 0 is 32 MiB" $((32 * MiB)) "$(stat -c %s "$E2E_TMP/read1.raw")"
check "its first 3 MiB are the image boot" cmp -n $((3 * MiB)) "$E2E_TMP/read1.raw" "$E2E_TMP/boot.raw"
check "the rest reads zero" cmp -n $((29 * MiB)) -i $((3 * MiB)):0 "$E2E_TMP/read1.raw" /dev/zero

head -c $((32 * MiB)) /dev/urandom >"$E2E_TMP/disk.raw"
check "qemu-img writes 32 MiB over iSCSI (and ends with SYNCHRONIZE CACHE)" \
  timeout 120 qemu-img convert -n -f raw "$E2E_TMP/disk.raw" "${SEC[@]}" --target-image-opts "$OPTS"
check "the RBD image holds exactly what was written" cmp <(image_bytes) "$E2E_TMP/disk.raw"
check "qemu-img reads it back through the gateway" qread "$E2E_TMP/read2.raw"
check "... equal" cmp "$E2E_TMP/read2.raw" "$E2E_TMP/disk.raw"

check "a FUA write of 64 KiB of 0x5a at 1 MiB" qio "wrote 65536/65536" "write -f -P 0x5a 1M 64k"
check "the FUA write is in the image for another client (no flush asked)" \
  cmp -n 65536 <(image_bytes | at $MiB) <(bytes_of 65536 '\132')
check "a write then SYNCHRONIZE CACHE" qio "wrote 4096/4096" "write -P 0x6b 2M 4k" "flush"
check "... the write is in the image" cmp -n 4096 <(image_bytes | at $((2 * MiB))) <(bytes_of 4096 '\153')
# The reference for what follows: disk.raw with those two writes.
cp "$E2E_TMP/disk.raw" "$E2E_TMP/expect.raw"
bytes_of 65536 '\132' | dd of="$E2E_TMP/expect.raw" bs=64k seek=16 conv=notrunc status=none
bytes_of 4096 '\153' | dd of="$E2E_TMP/expect.raw" bs=4k seek=512 conv=notrunc status=none

# UNMAP of the image's third and fourth 4 MiB objects, and of 3 KiB inside
# the first one: zeros there (the gateway turns rbd_skip_partial_discard off).
check "UNMAP [8 MiB, 16 MiB)" qio "discard 8388608/8388608" "discard 8M 8M"
check "UNMAP 3 KiB at 3073 KiB" qio "discard 3072/3072" "discard 3073k 3k"
dd if=/dev/zero of="$E2E_TMP/expect.raw" bs=1M seek=8 count=8 conv=notrunc status=none
dd if=/dev/zero of="$E2E_TMP/expect.raw" bs=1k seek=3073 count=3 conv=notrunc status=none
check "qemu-img reads the LUN after UNMAP" qread "$E2E_TMP/read3.raw"
check "the unmapped ranges read zero, everything else as written" cmp "$E2E_TMP/read3.raw" "$E2E_TMP/expect.raw"
check_ne "(the UNMAP changed something)" "$(md5sum <"$E2E_TMP/disk.raw")" "$(md5sum <"$E2E_TMP/read3.raw")"
check "another Ceph client reads the same image" cmp <(image_bytes) "$E2E_TMP/expect.raw"
# GET LBA STATUS, which qemu-img map asks through its iscsi driver.
timeout 60 qemu-img map --output=json "${SEC[@]}" --image-opts "$OPTS" >"$E2E_TMP/map.json" 2>"$E2E_TMP/map.err"
check_eq "GET LBA STATUS shows [8 MiB, 16 MiB) as the one hole" "$((8 * MiB)) $((8 * MiB))" \
  "$(jq -r '[.[] | select(.data == false)] | map("\(.start) \(.length)") | join(",")' "$E2E_TMP/map.json")"

# A second gateway (vsl gateway, another process) is refused the image for
# writing while vsl serve holds its exclusive lock.
jq -n --arg pool "$VSL_CEPH_POOL" --arg image "$IMG" --arg conf "$VSL_CEPH_CONF" --arg user "$VSL_CEPH_USER" \
  --arg keyring "$VSL_CEPH_KEYRING" --argjson len $((32 * MiB)) \
  '{listen: "127.0.0.1:0", hosts: [{name: "h9", initiator: "iqn.2026-11.org.test:h9", allow_no_auth: true,
    luns: [{lun: 0, extents: [{rbd: {pool: $pool, image: $image, conf: $conf, user: $user, keyring: $keyring},
                               length: $len}]}]}]}' >"$E2E_TMP/gw2.json"
check_fails "a second gateway cannot open the mapped image for writing" timeout 60 "$VSL" gateway --config "$E2E_TMP/gw2.json"
check "... naming the image and the exclusive lock's holder" \
  grep -q "rbd:$VSL_CEPH_POOL/$IMG: the image's exclusive lock is held by another client (127.0.0.1:" \
  "$E2E_TMP/check.$E2E_CHECKS.out"
check "the first gateway still serves LUN 0" qread "$E2E_TMP/read4.raw"
check "... unchanged" cmp "$E2E_TMP/read4.raw" "$E2E_TMP/expect.raw"

# A restart of vsl serve (SIGTERM) releases the lock; the new process maps
# the unit again from the catalog and takes it.
check "vsl serve stops with the RBD unit mapped" serve_stop
PORTAL_OLD=$PORTAL
serve_start "$E2E_TMP/data"
OPTS=${OPTS/portal=$PORTAL_OLD/portal=$PORTAL}
check "after the restart qemu-img reads LUN 0 again" qread "$E2E_TMP/read5.raw"
check "... unchanged" cmp "$E2E_TMP/read5.raw" "$E2E_TMP/expect.raw"
check "... and writes it (the new process holds the lock)" qio "wrote 4096/4096" "write -f -P 0x11 0 4k"
check "... into the image" cmp -n 4096 <(image_bytes) <(bytes_of 4096 '\021')

check "unmap" v disk unmap "$U"
check "unbind" v disk unbind "$U"
check_not "the grant is gone from the image" has_grant
check "scrub" v disk scrub "$U"
check_eq "the unit is clean" true "$(ajson GET "/v1/volumes/$U" | jq .clean)"
check "the RBD image reads back zero" cmp -n $((32 * MiB)) <(image_bytes) /dev/zero
check_not "no scrub leftover image" bash -c "$(declare -f admin_rbd); admin_rbd ls | grep -q '\\.scrub\$'"

# One LUN over two arrays: a meta volume of a 4 MiB file-array member and a
# 32 MiB rbd member, written and read across the members' boundary by
# qemu-img; each member holds its part.
check "file array f1 added (one 4 MiB volume)" \
  v array add f1 --path "$E2E_TMP/f1" --capacity 4MiB --volume-size 4MiB --quality media=mixed
FV=$(v disk allocate --size 4MiB --quality media=mixed --json | jq -r '.result.volumes[0]')
RV=$(v disk allocate --size 32MiB --quality media=ceph --json | jq -r '.result.volumes[0]')
check_eq "one volume on f1, one on r1" "f1 r1" \
  "$(ajson GET "/v1/volumes/$FV" | jq -r .array) $(ajson GET "/v1/volumes/$RV" | jq -r .array)"
MV=$(v disk configure "$FV" "$RV" --json | jq -r .result.volume)
check_eq "the meta unit is 36 MiB" $((36 * MiB)) "$(ajson GET "/v1/volumes/$MV" | jq .size)"
RIMG=vsl-r1-$(ajson GET "/v1/volumes/$RV" | jq -r .array_volume)
FFILE=$E2E_TMP/f1/volumes/$(ajson GET "/v1/volumes/$FV" | jq -r .array_volume)
check "bind the meta unit to h1 at LUN 1" v disk bind "$MV" --host h1 --lun 1
check "map it" v disk map "$MV"
OPTS=${OPTS/lun=0/lun=1}  # qread and qio now talk to LUN 1
head -c $((36 * MiB)) /dev/urandom >"$E2E_TMP/meta.raw"
check "qemu-img writes 36 MiB over both members" \
  timeout 120 qemu-img convert -n -f raw "$E2E_TMP/meta.raw" "${SEC[@]}" --target-image-opts "$OPTS"
check "qemu-img reads LUN 1 back" qread "$E2E_TMP/meta.read"
check "... equal" cmp "$E2E_TMP/meta.read" "$E2E_TMP/meta.raw"
check "the file member holds the first 4 MiB" cmp -n $((4 * MiB)) "$FFILE" "$E2E_TMP/meta.raw"
check "the RBD image holds the other 32 MiB" \
  cmp <(admin_rbd export "$RIMG" - 2>/dev/null) <(tail -c +$((4 * MiB + 1)) "$E2E_TMP/meta.raw")
check "a FUA write across the boundary" qio "wrote 8192/8192" "write -f -P 0x33 4092k 8k"
check "... its first half is in the file" cmp -n 4096 -i $((4092 * 1024)):0 "$FFILE" <(bytes_of 4096 '\063')
check "... its second half in the image" cmp -n 4096 <(admin_rbd export "$RIMG" - 2>/dev/null) <(bytes_of 4096 '\063')
check "unmap the meta unit" v disk unmap "$MV"
check "unbind it" v disk unbind "$MV"

# After a restart the arrays are reopened from the catalog.
check "vsl serve stops" serve_stop
serve_start "$E2E_TMP/data"
check "discover r1 after the restart" v array discover r1
check_eq "r1 still has its 9 volumes" 9 \
  "$(ajson GET '/v1/volumes?array=r1' | jq '[.volumes[] | select(.vanished | not)] | length')"

check "vsl serve stops" serve_stop
log "monitor + OSD resident at the end: $(ceph_rss_kib "$CLUSTER") KiB"
e2e_finish
