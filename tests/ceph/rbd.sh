#!/usr/bin/env bash
# rbd arrays against a real, throw-away Ceph cluster (tests/lib/ceph.sh: one
# monitor, one OSD, cephx, started once for the whole script): the driver's
# own tests (rbd_array_test, as vsl's least-privilege user client.vsl), then
# `vsl array add --driver rbd` through the real `vsl serve` API: discovery
# lists the array's images (and only them) into the catalog and the DWML,
# the keyring's secret reaches neither the catalog nor the API, a bad pool or
# keyring is refused naming it, and the array comes back after a restart.
# Usage: rbd.sh VSL RBD_ARRAY_TEST
set -uo pipefail
VSL=$1
RBD_TEST=$2
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../api/lib.sh"
source "$HERE/../lib/ceph.sh"
e2e_init 240

CLUSTER=$E2E_TMP/ceph
e2e_on_exit "ceph_stop $CLUSTER"
log "starting a throw-away Ceph cluster in $CLUSTER"
ceph_start "$CLUSTER" >/dev/null || fail_now "the Ceph cluster did not start"
log "cluster up in ${VSL_CEPH_START_MS} ms; monitor + OSD resident: $(ceph_rss_kib "$CLUSTER") KiB"
admin_rbd() { timeout 60 rbd -c "$VSL_CEPH_CONF" -n client.admin -k "$VSL_CEPH_ADMIN_KEYRING" -p "$VSL_CEPH_POOL" "$@"; }

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

# FIG. 7 on an rbd volume, through the manager: the image's master (on the
# default file array) copied onto it, bind grants the gateway on the image
# itself, map is refused (the gateway has no RBD backend yet) before anything
# changes, unbind revokes the grant, scrub leaves an image of zeros.
head -c $((3 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/boot.raw"
check "image boot imported" v image import boot "$E2E_TMP/boot.raw"
check "host h1 added" v host add h1 --hw std --initiator iqn.2026-11.org.test:h1
U=$(ajson POST '/v1/disks/allocate-unit?wait=true' '{"size": 33554432, "qualities": {"media": "ceph"}}' | jq -r .result.volume)
IMG=vsl-r1-$(ajson GET "/v1/volumes/$U" | jq -r .array_volume)
check_eq "a 32 MiB unit allocated on r1" "r1 configured" "$(ajson GET "/v1/volumes/$U" | jq -r '.array + " " + .state')"
check "the image copied onto it" v disk copy "$U" --image boot
check "the RBD image holds the image's bytes" cmp -n $((3 * 1024 * 1024)) <(admin_rbd export "$IMG" - 2>/dev/null) "$E2E_TMP/boot.raw"
check "bind to h1" v disk bind "$U" --host h1 --lun 0
check "the gateway's grant is on the image" bash -c "$(declare -f admin_rbd); admin_rbd image-meta get $IMG vsl.grants | grep -q iqn"
check_fails "map of an RBD volume is refused" v disk map "$U"
check "... saying why" grep -q "cannot serve RBD" "$E2E_TMP/check.$E2E_CHECKS.out"
check_eq "the refused map changed nothing" bound "$(vol_state "$U")"
check "unbind" v disk unbind "$U"
check_not "the grant is gone from the image" bash -c "$(declare -f admin_rbd); admin_rbd image-meta get $IMG vsl.grants 2>/dev/null | grep -q iqn"
check "scrub" v disk scrub "$U"
check_eq "the unit is clean" true "$(ajson GET "/v1/volumes/$U" | jq .clean)"
check "the RBD image reads back zero" cmp -n $((32 * 1024 * 1024)) <(admin_rbd export "$IMG" - 2>/dev/null) /dev/zero
check_not "no scrub leftover image" bash -c "$(declare -f admin_rbd); admin_rbd ls | grep -q '\\.scrub\$'"

# After a restart the arrays are reopened from the catalog.
check "vsl serve stops" serve_stop
serve_start "$E2E_TMP/data"
check "discover r1 after the restart" v array discover r1
check_eq "r1 still has its 9 volumes" 9 \
  "$(ajson GET '/v1/volumes?array=r1' | jq '[.volumes[] | select(.vanished | not)] | length')"

check "vsl serve stops" serve_stop
log "monitor + OSD resident at the end: $(ceph_rss_kib "$CLUSTER") KiB"
e2e_finish
