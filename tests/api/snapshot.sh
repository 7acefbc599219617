#!/usr/bin/env bash
# BCV snapshots (issue 10), through the real binary and a real initiator
# (qemu-io / qemu-img over iSCSI with the host's CHAP): `vsl disk snapshot`
# of a mapped disk holds the disk's bytes at that instant (later writes do
# not reach it; a host writing the first and the last chunk in rounds while
# it is taken gets a snapshot of one instant), is listed by `vsl disk
# snapshots`, mapped read-only to the host as another LUN (its writes
# refused), and released: unmapped, scrubbed, free. The backups' change map
# is left alone (a level 1 after a snapshot is still by map). kill -9 of
# serve in a snapshot or a release: the re-run converges, nothing leaks.
# Bad input is refused naming what is wrong. Usage: snapshot.sh VSL (API_CATALOG=sqlite|pg)
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 120
catalog_init
DATA=$E2E_TMP/data
serve_start "$DATA" --backup-dir "$E2E_TMP/store"
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

D=$(v disk allocate --size 16MiB --unit --json | jq -r .result.volume)
check "a 16 MiB unit" test "$D" -gt 0

log "bad input is refused naming what is wrong"
out=$(api POST "/v1/disks/snapshot?wait=true" "{\"volume\":$D}")
check_eq "a disk that is not mapped: HTTP 409" 409 "$(tail -1 <<<"$out")"
check "it says snap needs a mapped disk" grep -qF "snap is not allowed (allowed from: mapped)" <<<"$out"
out=$(api POST /v1/disks/snapshot "{\"volume\":$D,\"name\":\"a b\"}")
check_eq "a name with a space: HTTP 400" 400 "$(tail -1 <<<"$out")"
check "naming the field" grep -qF "field 'name'" <<<"$out"
out=$(api POST /v1/disks/snapshot-map "{\"snapshot\":$D,\"host\":\"h1\"}")
check_eq "snapshot-map without a LUN: HTTP 400" 400 "$(tail -1 <<<"$out")"
check "naming the field" grep -qF "'lun'" <<<"$out"
out=$(api POST "/v1/disks/snapshot-map?wait=true" "{\"snapshot\":$D,\"host\":\"h1\",\"lun\":3}")
check_eq "snapshot-map of a disk that is no snapshot: HTTP 404" 404 "$(tail -1 <<<"$out")"
check "it says so" grep -qF "is no snapshot" <<<"$out"
out=$(api POST "/v1/disks/snapshot-release?wait=true" "{\"snapshot\":$D}")
check_eq "release of a disk that is no snapshot: HTTP 404" 404 "$(tail -1 <<<"$out")"
check_eq "the disk is untouched" configured "$(vol_state "$D")"

check "bind D to h1 at LUN 0 and map it" bash -c "'$VSL' disk bind $D --host h1 --lun 0 && '$VSL' disk map $D"
check "pattern 0x11 over D, 0x12 at 12M" qio 0 "write -P 0x11 0 16M" "write -P 0x12 12M 100k"
R0=$(v backup run "$D" --level 0 --json)
check_eq "a level 0 of D" full "$(jq -r .result.mode <<<"$R0")"
grab 0 "$E2E_TMP/s0.raw"

log "a snapshot holds the disk's bytes at its instant"
S1=$(v disk snapshot "$D" --name before-upgrade --json | jq -r .result.snapshot)
check "snapshot before-upgrade made" test "$S1" -gt 0
check_eq "it is a unit of its own on D's array, Configured" "configured $(ajson GET /v1/volumes/$D | jq -r .array_id)" \
  "$(ajson GET /v1/volumes/$S1 | jq -r '"\(.state) \(.array_id)"')"
check_eq "D's bcv_id names it (FIG. 7 split)" "$S1" "$(ajson GET /v1/volumes/$D | jq -r .bcv_id)"
check "the CLI prints it" bash -c "'$VSL' disk snapshots $D | grep -q 'before-upgrade'"
out=$(api POST "/v1/disks/snapshot?wait=true" "{\"volume\":$D,\"name\":\"before-upgrade\"}")
check_eq "a second snapshot of that name: HTTP 409" 409 "$(tail -1 <<<"$out")"
check "it names the first" grep -qF "volume $S1" <<<"$out"
check "pattern 0x33 at 1M..3M on D after it" qio 0 "write -P 0x33 1M 2M"
check "map the snapshot read-only to h1 at LUN 1" v disk snapshot-map "$S1" --host h1 --lun 1
grab 1 "$E2E_TMP/l1.raw"
check "LUN 1 equals D at the snapshot, byte for byte" cmp "$E2E_TMP/s0.raw" "$E2E_TMP/l1.raw"
check_fails "the host cannot write the snapshot" qio 1 "write -P 0x44 0 4k"
grab 1 "$E2E_TMP/l1b.raw"
check "it is unchanged" cmp "$E2E_TMP/s0.raw" "$E2E_TMP/l1b.raw"
check_eq "snapshots lists it mapped to h1 at LUN 1" "$S1 before-upgrade 16777216 h1:1" \
  "$(ajson GET /v1/disks/$D/snapshots | jq -r '.snapshots[] | "\(.id) \(.name) \(.size) \(.mapped_to | map("\(.host):\(.lun)") | join(","))"')"
check "vsl disk snapshots shows the host and LUN" bash -c "'$VSL' disk snapshots $D | grep -q 'h1 LUN 1'"
R1=$(v backup run "$D" --level 1 --json)
check_eq "a level 1 after the snapshot is still by map (the snapshot left the change map alone)" "map $((32 * 65536))" \
  "$(jq -r '"\(.result.mode) \(.result.bytes_stored)"' <<<"$R1")"

log "a snapshot while the host writes the first and last chunk in rounds: one instant"
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
SNAPS=()
for k in 1 2 3; do
  S=$(v disk snapshot "$D" --json | jq -r .result.snapshot)
  check "snapshot $k made" test "$S" -gt 0
  SNAPS+=("$S")
  check "map it at LUN $((k + 1))" v disk snapshot-map "$S" --host h1 --lun $((k + 1))
done
touch "$E2E_TMP/stop"
wait "$PP"
check "the writer ran without error" test $? -eq 0
for k in 1 2 3; do
  grab $((k + 1)) "$E2E_TMP/p$k.raw"
  a=$(od -An -tu1 -N1 "$E2E_TMP/p$k.raw" | tr -d ' ')
  b=$(od -An -tu1 -N1 -j "$LAST" "$E2E_TMP/p$k.raw" | tr -d ' ')
  check "snapshot $k: the last chunk's round ($b) is the first's ($a) or one before" test $(((a - b + 250) % 250)) -le 1
done
check_eq "default names are snap-ID" "snap-${SNAPS[0]}" \
  "$(ajson GET /v1/disks/$D/snapshots | jq -r --argjson s "${SNAPS[0]}" '.snapshots[] | select(.id == $s) | .name')"

log "a disk with snapshots is not freed, nor is a snapshot by free"
out=$(api POST "/v1/disks/free?wait=true" "{\"volume\":$S1}")
check_eq "free of a snapshot: HTTP 409" 409 "$(tail -1 <<<"$out")"
check "it says to release it" grep -qF "snapshot-release $S1" <<<"$out"
check_eq "the snapshot stays mapped" mapped "$(vol_state "$S1")"
check "unmap D" v disk unmap "$D"
check "unbind D" v disk unbind "$D"
out=$(api POST "/v1/disks/free?wait=true" "{\"volume\":$D}")
check_eq "free of a disk with snapshots: HTTP 409" 409 "$(tail -1 <<<"$out")"
check "it names them" grep -qF "has snapshots ($S1 'before-upgrade'" <<<"$out"
check_eq "D is untouched" unbound "$(vol_state "$D")"
check "bind and map D again" bash -c "'$VSL' disk bind $D --host h1 --lun 0 && '$VSL' disk map $D"

log "release: unmapped, scrubbed, free"
check "release before-upgrade" v disk snapshot-release "$S1"
check_eq "its volume is Free" free "$(vol_state "$S1")"
check_eq "it is no longer listed" 3 "$(ajson GET /v1/disks/$D/snapshots | jq '.snapshots | length')"
check_fails "the host no longer has LUN 1" qio 1 "read 0 4k"
check "its events show the unmap, scrub and deallocate" bash -c \
  "'$VSL' events --entity volume --id $S1 | grep -q unmap && '$VSL' events --entity volume --id $S1 | grep -q scrub && '$VSL' events --entity volume --id $S1 | grep -q deallocate"
for S in "${SNAPS[@]}"; do check "release $S" v disk snapshot-release "$S"; done
check_eq "none left" 0 "$(ajson GET /v1/disks/$D/snapshots | jq '.snapshots | length')"
FREED=$(v disk allocate --size 4MiB --unit --json | jq -r .result.volume)
check "a disk without snapshots frees" v disk free "$FREED"
check_eq "D's bcv_id is cleared" null "$(ajson GET /v1/volumes/$D | jq -r .bcv_id)"
check_eq "D still Mapped" mapped "$(vol_state "$D")"
grab 0 "$E2E_TMP/d.raw"
check_eq "D holds the writer's last round in its first and last chunk" "250 250" \
  "$(od -An -tu1 -N1 "$E2E_TMP/d.raw" | tr -d ' ') $(od -An -tu1 -N1 -j "$LAST" "$E2E_TMP/d.raw" | tr -d ' ')"
log "kill -9 while a snapshot is taken, and while one is released"
busy() { ajson GET "/v1/volumes?top=true" | jq '[.volumes[] | select(.state != "free")] | length'; }
crashed_run() {  # crashed_run POINT OP CLI...: the request's re-run after serve died at POINT
  check "serve stops" serve_stop
  VSL_CRASH_AT=$1:1 serve_start "$DATA" --backup-dir "$E2E_TMP/store"
  local op=$2
  shift 2
  "$@" --no-wait >/dev/null 2>&1
  for ((i = 0; i < 300; i++)); do alive "$SERVE_PID" || break; sleep 0.1; done
  check_not "serve died at $1" alive "$SERVE_PID"
  wait "$SERVE_PID" 2>/dev/null
  SERVE_LEASE_MS=1000 serve_start "$DATA" --backup-dir "$E2E_TMP/store"
  Q=$(ajson GET "/v1/requests?op=$op&limit=100000" | jq '[.requests[].id] | max')
  local st
  for ((i = 0; i < 300; i++)); do
    st=$(ajson GET "/v1/requests/$Q" | jq -r .state)
    [[ $st == done || $st == failed ]] && break
    sleep 0.1
  done
  check_eq "the $op request's re-run succeeded" done "$st"
}
n=$(busy)
crashed_run op.snap.copied snapshot v disk snapshot "$D" --name crashed
SC=$(ajson GET /v1/disks/$D/snapshots | jq -r '.snapshots[] | select(.name == "crashed") | .id')
check "one snapshot 'crashed' listed" test "$(wc -w <<<"$SC")" -eq 1
check_eq "one unit more in use (no BCV left behind)" $((n + 1)) "$(busy)"
check "map it at LUN 5" v disk snapshot-map "$SC" --host h1 --lun 5
grab 5 "$E2E_TMP/c.raw"
check "it holds D as it is" cmp "$E2E_TMP/d.raw" "$E2E_TMP/c.raw"
crashed_run op.snapshot-release.unbound snapshot-release v disk snapshot-release "$SC"
check_eq "the released snapshot is free" free "$(vol_state "$SC")"
check_eq "none listed" 0 "$(ajson GET /v1/disks/$D/snapshots | jq '.snapshots | length')"
check_eq "as many units in use as before" "$n" "$(busy)"
check "vsl serve stops cleanly" serve_stop
e2e_finish
