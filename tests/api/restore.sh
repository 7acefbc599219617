#!/usr/bin/env bash
# Destructive restore rules (issue 10), through the real binary and a real
# initiator (qemu-io / qemu-img over iSCSI with the host's CHAP):
# * a restore onto a disk mapped to a powered-on server (a farm's, applied
#   with the `none` power driver, which remembers what it powered on) is
#   refused without --force, naming the host; with --force the disk holds
#   exactly the backup's bytes;
# * a disk mapped to a host that is not powered on restores without
#   --force; a host write issued while the restore writes is held until the
#   restore is done (it lands on top of the restored bytes, not under
#   them), and the restore says the writes were held;
# * kill -9 of `vsl serve` in the middle of a restore (crash point
#   op.restore.write): nothing reports the restore complete, and after a
#   restart the request's re-run gives exactly the backup's bytes.
# Usage: restore.sh VSL (API_CATALOG=sqlite|pg)
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 150
catalog_init
MiB=$((1024 * 1024))
DATA=$E2E_TMP/data
STORE=$E2E_TMP/store
serve_start "$DATA" --backup-dir "$STORE"
SEC=0123456789abcdef-h1
check "host h1 added" v host add h1 --hw std --initiator iqn.2026-11.org.test:h1 --chap-secret "$SEC"
opts() { echo "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$2,lun=$1,initiator-name=iqn.2026-11.org.test:$2,user=$2,password-secret=s0"; }
qio() {  # qio LUN CMD...: qemu-io commands on h1's LUN
  local lun=$1 args=()
  shift
  for c in "$@"; do args+=(-c "$c"); done
  timeout 60 qemu-io --object "secret,id=s0,data=$SEC" --image-opts "$(opts "$lun" h1)" "${args[@]}" >/dev/null
}
grab() { timeout 60 qemu-img convert --object "secret,id=s0,data=${3:-$SEC}" --image-opts "$(opts "$1" "${4:-h1}")" -O raw "$2"; }
wait_request() {  # wait_request ID: its final state
  local st
  for ((i = 0; i < 600; i++)); do
    st=$(ajson GET "/v1/requests/$1" | jq -r .state)
    [[ $st == done || $st == failed ]] && break
    sleep 0.1
  done
  echo "$st"
}

log "a disk mapped to a host nobody powered on: restored without --force, the host's writes held"
SIZE=384
D=$(v disk allocate --size ${SIZE}MiB --unit --json | jq -r .result.volume)
check "bind D to h1 at LUN 0 and map it" bash -c "'$VSL' disk bind $D --host h1 --lun 0 && '$VSL' disk map $D"
check "pattern 0x5a over D" qio 0 "write -P 0x5a 0 ${SIZE}M"
B0=$(v backup run "$D" --level 0 --json | jq -r .result.backup)
grab 0 "$E2E_TMP/b0.raw"
check "pattern 0x66 over D's first 8 MiB" qio 0 "write -P 0x66 0 8M"
LAST=$((SIZE * MiB - 4096))
# One session, logged in before the restore, whose write is sent once the
# restore has started writing.
mkfifo "$E2E_TMP/qio.in"
timeout 60 qemu-io --object "secret,id=s0,data=$SEC" --image-opts "$(opts 0 h1)" <"$E2E_TMP/qio.in" >"$E2E_TMP/qio.out" 2>&1 &
QPID=$!
exec {QIN}>"$E2E_TMP/qio.in"
echo "read 0 4k" >&"$QIN"
for ((i = 0; i < 300; i++)); do grep -q "read 4096/4096" "$E2E_TMP/qio.out" && break; sleep 0.05; done
check "the host's session is up" grep -q "read 4096/4096" "$E2E_TMP/qio.out"
Q=$(v backup restore "$B0" --to "$D" --no-wait --json | jq -r .request.id)
for ((i = 0; i < 1000; i++)); do
  v events --entity volume --id "$D" --request "$Q" | grep -q "chain checked, writing" && break
  sleep 0.01
done
echo "write -P 0x77 $LAST 4k" >&"$QIN"
echo "quit" >&"$QIN"
exec {QIN}>&-
wait "$QPID"
check "the host's write succeeded" grep -q "wrote 4096/4096" "$E2E_TMP/qio.out"
check_eq "the restore ran without --force" done "$(wait_request "$Q")"
check_eq "it held the host's writes" true "$(ajson GET "/v1/requests/$Q" | jq -r .result.held_writes)"
grab 0 "$E2E_TMP/after.raw"
check "D holds the backup's bytes up to the host's write" cmp -n "$LAST" "$E2E_TMP/b0.raw" "$E2E_TMP/after.raw"
check_eq "the write sent during the restore landed after it (not overwritten)" 77 \
  "$(od -An -tx1 -N1 -j "$LAST" "$E2E_TMP/after.raw" | tr -d ' ')"
check "the events say the writes were held" bash -c "'$VSL' events --entity volume --id $D --request $Q | grep -q 'writes are held'"

log "kill -9 in the middle of a restore"
check "pattern 0x66 over D's first 8 MiB again" qio 0 "write -P 0x66 0 8M"
check "serve stops" serve_stop
VSL_CRASH_AT=op.restore.write:40 serve_start "$DATA" --backup-dir "$STORE"
v backup restore "$B0" --to "$D" --no-wait --json >/dev/null 2>&1
for ((i = 0; i < 300; i++)); do alive "$SERVE_PID" || break; sleep 0.1; done
check_not "serve died at the crash point" alive "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
check "it said so" grep -q "crash point op.restore.write" "$SERVE_LOG"
SERVE_LEASE_MS=1000 serve_start "$DATA" --backup-dir "$STORE"
QC=$(ajson GET "/v1/requests?op=backup-restore&limit=100000" | jq '[.requests[].id] | max')
check_ne "the crashed restore is not reported done" done "$(ajson GET "/v1/requests/$QC" | jq -r .state)"
check_eq "the events before the re-run say started, never complete" 0 \
  "$(v events --entity volume --id "$D" --request "$QC" | grep -c "complete")"
st=$(wait_request "$QC")
log "re-run: $(ajson GET "/v1/requests/$QC" | jq -c "{state, reason, attempts}")"
check_eq "the re-run finished it" done "$st"
check_eq "one complete, from the re-run" 1 "$(v events --entity volume --id "$D" --request "$QC" | grep -c "restore of backup $B0 complete")"
grab 0 "$E2E_TMP/crash.raw"
check "D holds exactly the backup's bytes" cmp "$E2E_TMP/b0.raw" "$E2E_TMP/crash.raw"

log "a disk mapped to a powered-on server: refused without --force"
head -c $MiB /dev/urandom >"$E2E_TMP/img.raw"
check "image img imported" v image import img "$E2E_TMP/img.raw"
check "host fa added" v host add fa --hw x86-vm --initiator iqn.2026-11.org.test:fa --chap-secret "$SEC"
cat >"$E2E_TMP/rs.fml" <<FML
<?xml version="1.0"?>
<farm fmlversion="1.2" name="rs">
  <tier id="1" name="app"><role>app</role><min-servers>1</min-servers><max-servers>1</max-servers><init-servers>1</init-servers></tier>
  <server-role id="app" name="App server">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="scsi" drivesize="4MiB"><diskimage type="system">img</diskimage></disk>
  </server-role>
</farm>
FML
check "farm rs applied (fa powered on)" v farm apply "$E2E_TMP/rs.fml"
FD=$(ajson GET /v1/bindings?host=fa | jq -r '.bindings[0].volume_id')
check "the farm's disk is mapped to fa" test "$FD" -gt 0
FB=$(v backup run "$FD" --level 0 --json | jq -r .result.backup)
grab 0 "$E2E_TMP/f0.raw" "$SEC" fa
check "fa writes over its disk" timeout 60 qemu-io --object "secret,id=s0,data=$SEC" --image-opts "$(opts 0 fa)" -c "write -P 0x99 0 4M"
out=$(api POST "/v1/backups/$FB/restore?wait=true" "{\"volume\":$FD}")
check_eq "refused: HTTP 409" 409 "$(tail -1 <<<"$out")"
check "it names the powered-on host and force" grep -qF "powered-on host fa" <<<"$out"
check "and says force" grep -qF "force" <<<"$out"
check_fails "the CLI refuses it too" v backup restore "$FB" --to "$FD"
check "with --force it restores" v backup restore "$FB" --to "$FD" --force
grab 0 "$E2E_TMP/f1.raw" "$SEC" fa
check "fa reads exactly the backup" cmp "$E2E_TMP/f0.raw" "$E2E_TMP/f1.raw"
check "vsl serve stops cleanly" serve_stop
e2e_finish
