#!/usr/bin/env bash
# BCV snapshots on an rbd array (issue 10), on a throw-away Ceph cluster
# (tests/lib/ceph.sh), through the real binary and qemu-io / qemu-img over
# iSCSI: `vsl disk snapshot` of a mapped rbd disk is a unit on the same
# array, a clone of an RBD snapshot of the disk (so Ceph says); later writes
# never reach it, and one taken while the host writes the first and last
# chunk in rounds holds one instant; mapped read-only as another LUN it
# equals the disk at the snapshot; released, it is Free and its RBD snapshot
# is gone from the disk's image.
#   snapshot.sh VSL
set -uo pipefail
VSL=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../api/lib.sh"
source "$HERE/../lib/ceph.sh"
e2e_init 240
CLUSTER=$E2E_TMP/ceph
e2e_on_exit "ceph_stop $CLUSTER"
log "starting a throw-away Ceph cluster in $CLUSTER"
ceph_start "$CLUSTER" >/dev/null || fail_now "the Ceph cluster did not start"
admin_rbd() { VSL_CEPH_RBD_TIMEOUT=120 ceph_admin_rbd "$@"; }

API_CATALOG=sqlite
serve_start "$E2E_TMP/data"
check "rbd array r1 added (class=performance)" v array add r1 --driver rbd --pool "$VSL_CEPH_POOL" \
  --ceph-conf "$VSL_CEPH_CONF" --ceph-user "$VSL_CEPH_USER" --keyring "$VSL_CEPH_KEYRING" \
  --capacity 8GiB --quality class=performance
SEC=0123456789abcdef-h1
check "host h1 added" v host add h1 --hw std --initiator iqn.2026-11.org.test:h1 --chap-secret "$SEC"
opts() { echo "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:h1,lun=$1,initiator-name=iqn.2026-11.org.test:h1,user=h1,password-secret=s0"; }
qio() {
  local lun=$1 args=()
  shift
  for c in "$@"; do args+=(-c "$c"); done
  timeout 60 qemu-io --object "secret,id=s0,data=$SEC" --image-opts "$(opts "$lun")" "${args[@]}" >/dev/null 2>&1
}
grab() { timeout 60 qemu-img convert --object "secret,id=s0,data=$SEC" --image-opts "$(opts "$1")" -O raw "$2"; }

D=$(v disk allocate --size 16MiB --quality class=performance --unit --json | jq -r .result.volume)
check_eq "a 16 MiB unit on r1" r1 "$(ajson GET "/v1/volumes/$D" | jq -r .array)"
IMG=vsl-r1-$(ajson GET "/v1/volumes/$D" | jq -r .array_volume)
check "bind D to h1 at LUN 0 and map it" bash -c "'$VSL' disk bind $D --host h1 --lun 0 && '$VSL' disk map $D"
check "pattern 0x11 over D, 0x12 at 12M" qio 0 "write -P 0x11 0 16M" "write -P 0x12 12M 100k"
grab 0 "$E2E_TMP/s0.raw"

S1=$(v disk snapshot "$D" --name s1 --json | jq -r .result.snapshot)
check "snapshot s1 made" test "$S1" -gt 0
check_eq "it is a unit on r1" r1 "$(ajson GET "/v1/volumes/$S1" | jq -r .array)"
SIMG=vsl-r1-$(ajson GET "/v1/volumes/$S1" | jq -r .array_volume)
check "Ceph says it is a clone of a snapshot of D's image" \
  bash -c "$(declare -f admin_rbd ceph_admin_rbd); admin_rbd info $SIMG | grep -q 'parent: $VSL_CEPH_POOL/$IMG@vsl.bcv.'"
check "pattern 0x33 at 1M..3M on D after it" qio 0 "write -P 0x33 1M 2M"
check "map s1 read-only at LUN 1" v disk snapshot-map "$S1" --host h1 --lun 1
grab 1 "$E2E_TMP/l1.raw"
check "LUN 1 equals D at the snapshot" cmp "$E2E_TMP/s0.raw" "$E2E_TMP/l1.raw"
check_fails "the host cannot write it" qio 1 "write -P 0x44 0 4k"
check "vsl disk snapshots lists it at h1 LUN 1" bash -c "'$VSL' disk snapshots $D | grep 's1' | grep -q 'h1 LUN 1'"

log "a snapshot while the host writes the first and last chunk in rounds"
LAST=$((16 * 1024 * 1024 - 65536))
pairs() {
  local r cmds=()
  for ((r = 1; r <= 250; r++)); do cmds+=("write -P $r 0 64k" "write -P $r $LAST 64k"); done
  while [[ ! -e $E2E_TMP/stop ]]; do qio 0 "${cmds[@]}" || return 1; echo x >>"$E2E_TMP/pairs"; done
}
: >"$E2E_TMP/pairs"
pairs &
PP=$!
for ((i = 0; i < 600; i++)); do [[ -s $E2E_TMP/pairs ]] && break; sleep 0.1; done
S2=$(v disk snapshot "$D" --json | jq -r .result.snapshot)
check "snapshot 2 made" test "$S2" -gt 0
touch "$E2E_TMP/stop"
wait "$PP"
check "the writer ran without error" test $? -eq 0
check "map it at LUN 2" v disk snapshot-map "$S2" --host h1 --lun 2
grab 2 "$E2E_TMP/p.raw"
a=$(od -An -tu1 -N1 "$E2E_TMP/p.raw" | tr -d ' ')
b=$(od -An -tu1 -N1 -j "$LAST" "$E2E_TMP/p.raw" | tr -d ' ')
check "the last chunk's round ($b) is the first's ($a) or one before" test $(((a - b + 250) % 250)) -le 1

log "release"
for S in "$S1" "$S2"; do
  check "release $S" v disk snapshot-release "$S"
  check_eq "$S is free" free "$(vol_state "$S")"
done
check_eq "no snapshot listed" 0 "$(ajson GET /v1/disks/$D/snapshots | jq '.snapshots | length')"
check_eq "D's image keeps no vsl.bcv snapshot" 0 \
  "$(admin_rbd snap ls "$IMG" --format json 2>/dev/null | jq '[.[] | select(.name | startswith("vsl.bcv."))] | length')"
check "vsl serve stops cleanly" serve_stop
e2e_finish
