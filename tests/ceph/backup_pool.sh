#!/usr/bin/env bash
# Backups into a store in a RADOS pool (issue 10: `--backup-store
# rados:POOL/NAMESPACE`), through the real binary, a throw-away Ceph cluster
# (tests/lib/ceph.sh) and a real initiator (qemu-io, qemu-img over iSCSI):
#  - a user with only the caps docs/ceph.md gives (rwx on one namespace of
#    the pool) holds the store; outside its namespace it is refused;
#  - an RBD disk the host writes: level 0, more writes, level 1 (by
#    rbd-diff); the objects are the marker, one manifest per backup and the
#    chunks by SHA-256; verify passes; restore --new equals the disk then;
#  - a file array's disk (level 0, level 1 from the dirty map) into the
#    same pool store;
#  - with serve stopped and no catalog, `vsl backup-store list|restore
#    rados:...` gives each point back byte for byte;
#  - kill -9 of serve after the chunks were put, before the manifest: no
#    partial backup listed; the restart breaks the dead writer's lock and
#    removes its chunk; the re-run succeeds;
#  - a chunk object overwritten (rados put) is found by verify and refused
#    by restore, both naming the extent; the level 0 (without that chunk)
#    still restores.
# Usage: backup_pool.sh VSL
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../api/lib.sh"
source "$HERE/../lib/ceph.sh"
api_suite "$1" 150

ceph_e2e_start
MiB=$((1 << 20))
DATA=$E2E_TMP/data
NS=bk
BK_KEYRING=$CLUSTER/client.vslbk.keyring
check "a cephx user with rwx on namespace $NS of pool $VSL_CEPH_POOL only" \
  _ceph_cli "$CLUSTER" auth get-or-create client.vslbk mon 'allow r' \
  osd "allow rwx pool=$VSL_CEPH_POOL namespace=$NS" -o "$BK_KEYRING"
SPEC=rados:$VSL_CEPH_POOL/$NS
ceph_args=(--ceph-conf "$VSL_CEPH_CONF" --ceph-user vslbk --keyring "$BK_KEYRING")
rados_admin() {
  timeout 60 rados -c "$VSL_CEPH_CONF" -n client.admin -k "$VSL_CEPH_ADMIN_KEYRING" -p "$VSL_CEPH_POOL" -N "$NS" "$@"
}

out=$(v backup-store list "rados:$VSL_CEPH_POOL/other" "${ceph_args[@]}" 2>&1)
check_not "outside its namespace the user is refused" test $? -eq 0
check "... naming the caps page" grep -q "docs/ceph.md" <<<"$out"
out=$("$VSL" serve --config '' --data "$E2E_TMP/bad" --backup-store "$SPEC" 2>&1)
check_not "serve --backup-store without --ceph-conf refuses to start" test $? -eq 0
check "... saying what is missing" grep -q "needs --ceph-conf and --ceph-user" <<<"$out"

serve_start "$DATA" --backup-store "$SPEC" "${ceph_args[@]}"
check_eq "the store's marker is in the namespace" vsl-backup-store "$(rados_admin ls 2>/dev/null)"
check "rbd array r1 added" v array add r1 "${RBD_ARGS[@]}" --capacity 1GiB --quality media=ceph
chap_hosts h1

qio() { qemu_io h1 "$@"; }    # qio LUN CMD...: qemu-io commands on h1's LUN; every one must succeed
grab() { qemu_grab h1 "$@"; }  # grab LUN OUT
field() { jq -r "$1" <<<"$2"; }
store() { v backup-store "$1" --store "$SPEC" "${@:2}" "${ceph_args[@]}"; }
count() { rados_admin ls 2>/dev/null | grep -c "^$1" ; }

log "level 0 and level 1 of an RBD disk into the pool"
D=$(ajson POST '/v1/disks/allocate-unit?wait=true' "{\"size\": $((16 * MiB)), \"qualities\": {\"media\": \"ceph\"}}" | jq -r .result.volume)
check "bind D to h1 at LUN 0 and map it" bash -c "'$VSL' disk bind $D --host h1 --lun 0 && '$VSL' disk map $D"
check "0x11 over 4 MiB, 0x12 at 12M" qio 0 "write -P 0x11 0 4M" "write -P 0x12 12M 100k"
grab 0 "$E2E_TMP/s0.raw"
R0=$(v backup run "$D" --level 0 --json)
B0=$(field .result.backup "$R0")
check_eq "level 0: 4 MiB + 2 chunks stored" $((66 * 65536)) "$(field .result.bytes_stored "$R0")"
# 0x11 chunks are all alike: one object holds them (content-addressed).
check_eq "its chunks are 3 objects (64 identical chunks share one)" 3 "$(count chunk.)"
check "0x22 at 1M..2M, 0x33 at 9M" qio 0 "write -P 0x22 1M 1M" "write -P 0x33 9M 64k"
grab 0 "$E2E_TMP/s1.raw"
R1=$(v backup run "$D" --level 1 --json)
B1=$(field .result.backup "$R1")
check_eq "level 1 by rbd-diff after the level 0" "rbd-diff $B0" "$(field '"\(.result.mode) \(.result.parent)"' "$R1")"
check_eq "it stored the 17 changed chunks" $((17 * 65536)) "$(field .result.bytes_stored "$R1")"
check_eq "two manifests" "$(printf 'manifest.%s\n' "$B0" "$B1" | sort | tr '\n' ' ')" \
  "$(rados_admin ls | grep '^manifest\.' | sort | tr '\n' ' ')"
check_eq "and two more chunk objects (0x22, 0x33)" 5 "$(count chunk.)"
check "vsl backup verify passes" v backup verify "$B1"
out=$(v backup restore "$B1" --new --map-to h1 --lun 1 --json)
check "restore $B1 --new --map-to h1 --lun 1" test $? -eq 0
grab 1 "$E2E_TMP/r1.raw"
check "LUN 1 equals the disk at the level 1" cmp "$E2E_TMP/s1.raw" "$E2E_TMP/r1.raw"

log "a disk of a file array into the same pool (its copy-on-write blocks under DATA/backup-scratch/tmp)"
check "file array f1 added" v array add f1 --path "$E2E_TMP/f1" --capacity 64MiB --quality media=file
F=$(ajson POST '/v1/disks/allocate-unit?wait=true' "{\"size\": $((8 * MiB)), \"qualities\": {\"media\": \"file\"}}" | jq -r .result.volume)
check "bind F to h1 at LUN 2 and map it" bash -c "'$VSL' disk bind $F --host h1 --lun 2 && '$VSL' disk map $F"
check "0x51 over 2 MiB of F" qio 2 "write -P 0x51 0 2M" "write -P 0x53 5M 64k"
grab 2 "$E2E_TMP/f0.raw"
RF0=$(v backup run "$F" --level 0 --json)
BF0=$(field .result.backup "$RF0")
check_eq "F's level 0 is full" full "$(field .result.mode "$RF0")"
check "0x52 at 1M of F" qio 2 "write -P 0x52 1M 64k"
grab 2 "$E2E_TMP/f1.raw"
RF1=$(v backup run "$F" --level 1 --json)
BF1=$(field .result.backup "$RF1")
check_eq "F's level 1 from the dirty map stored one chunk" "map 65536" "$(field '"\(.result.mode) \(.result.bytes_stored)"' "$RF1")"
check "the scratch directory is left empty" test -z "$(ls -A "$DATA/backup-scratch/tmp")"

log "kill -9 of serve after the chunks, before the manifest"
check "serve stops" serve_stop
VSL_CRASH_AT=op.backup.filled:1 serve_start "$DATA" --backup-store "$SPEC" "${ceph_args[@]}"
check "0x44 at 6M" qio 0 "write -P 0x44 6M 64k"
n_chunks=$(count chunk.)
grab 0 "$E2E_TMP/s2.raw"
v backup run "$D" --level 1 --no-wait --json >/dev/null 2>&1
for ((i = 0; i < 300; i++)); do alive "$SERVE_PID" || break; sleep 0.1; done
check_not "serve died during the backup" alive "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
check "at the crash point (chunks put, no manifest)" grep -q "crash point op.backup.filled" "$SERVE_LOG"
check_eq "the killed run's chunk is in the pool" $((n_chunks + 1)) "$(count chunk.)"
check_eq "the store lists no partial backup" 4 "$(store list --json | jq '.backups | length')"
serve_start "$DATA" --backup-store "$SPEC" "${ceph_args[@]}"
check "the restarted serve broke the killed writer's lock (no 60 s lease to wait out)" grep -q "broke 1 lock" "$SERVE_LOG"
check "... and removed its chunk (no manifest names it)" grep -q "1 chunk objects no manifest names" "$SERVE_LOG"
Q=$(ajson GET "/v1/requests?op=backup&limit=100000" | jq '[.requests[].id] | max')
st=$(request_wait "$Q")
check_eq "the request's re-run succeeded" done "$st"
B2=$(ajson GET "/v1/requests/$Q" | jq -r .result.backup)
check_eq "the store lists it (STORE as the first argument)" 5 \
  "$(v backup-store list "$SPEC" "${ceph_args[@]}" --json | jq '.backups | length')"
check "serve stops" serve_stop

log "no catalog, no serve: vsl backup-store on the pool"
mv "$DATA" "$DATA.gone"
for p in "$B0 s0" "$B1 s1" "$B2 s2" "$BF0 f0" "$BF1 f1"; do
  set -- $p
  check "backup-store restore $1" store restore "$1" "$E2E_TMP/$2.back"
  check "... equals the disk then, byte for byte" cmp "$E2E_TMP/$2.raw" "$E2E_TMP/$2.back"
done

log "a chunk object overwritten in the pool"
# The level 1's extent at 9M (0x33) is in its own chunk object.
OFF=$((9 * MiB))
SHA=$(rados_admin get "manifest.$B1" - | jq -r "select(.offset == $OFF) | .sha256")
check "the manifest names the chunk at 9M" test -n "$SHA"
head -c 65536 /dev/zero | tr '\0' 'X' >"$E2E_TMP/bad.chunk"
check "rados put over chunk.$SHA" rados_admin put "chunk.$SHA" "$E2E_TMP/bad.chunk"
out=$(store verify "$B1" 2>&1)
check_not "backup-store verify fails" test $? -eq 0
check "... naming the extent at 9M of $B1" grep -q "$B1.*offset $OFF" <<<"$out"
out=$(store restore "$B1" "$E2E_TMP/refused.raw" 2>&1)
check_not "backup-store restore is refused" test $? -eq 0
check "... naming the extent" grep -q "extent at offset $OFF" <<<"$out"
check_not "... and writes nothing" test -e "$E2E_TMP/refused.raw"
check "the level 0 (without that chunk) still restores" store restore "$B0" "$E2E_TMP/s0.again"
check "... byte for byte" cmp "$E2E_TMP/s0.raw" "$E2E_TMP/s0.again"
e2e_finish
