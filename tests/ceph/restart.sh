#!/usr/bin/env bash
# vsl serve on rbd arrays across the two restarts a cluster operator meets
# (issue 9):
#  - SIGKILL of vsl serve while an RBD unit is mapped and written: the dead
#    process still owns the image's exclusive lock; the next vsl serve on
#    the same data directory knows that process is dead (DATA/rbd-clients),
#    breaks the lock (fencing the dead client) before the gateway opens the
#    image, and serves the unit; the same for a holder that looks alive to
#    the cluster (a frozen process) noted as a dead client;
#  - vsl serve started while the cluster is down: it starts, serves the file
#    array's hosts, shows the rbd array disconnected with the reason, refuses
#    what needs it naming it, and reconnects by itself when the cluster is
#    back, serving the RBD unit again; the same with only the OSD down.
# Usage: restart.sh VSL   (RESTART_ONLY_KILL=1: the SIGKILL part only)
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../api/lib.sh"
source "$HERE/../lib/ceph.sh"
e2e_init 240

ceph_e2e_start
admin_rbd() { ceph_admin_rbd "$@"; }
MiB=$((1 << 20))

catalog_init
serve_start "$E2E_TMP/data"
check "rbd array r1 added" v array add r1 --driver rbd --pool "$VSL_CEPH_POOL" --ceph-conf "$VSL_CEPH_CONF" \
  --ceph-user "$VSL_CEPH_USER" --keyring "$VSL_CEPH_KEYRING" --capacity 128MiB --quality media=ceph
check "file array f1 added" v array add f1 --path "$E2E_TMP/f1" --capacity 64MiB --quality media=file
host() {
  v host add "$1" --hw std --initiator "iqn.2026-11.org.test:$1" --json >"$E2E_TMP/$1.json" &&
    jq -r .chap_secret "$E2E_TMP/$1.json" >"$E2E_TMP/$1.secret"
}
check "host h1 added" host h1
check "host h2 added" host h2
unit() { ajson POST '/v1/disks/allocate-unit?wait=true' "{\"size\": $((16 * MiB)), \"qualities\": {\"media\": \"$1\"}}" | jq -r .result.volume; }
U1=$(unit ceph)
U2=$(unit file)
check_eq "U1 on r1, U2 on f1" "r1 f1" "$(ajson GET "/v1/volumes/$U1" | jq -r .array) $(ajson GET "/v1/volumes/$U2" | jq -r .array)"
IMG=vsl-r1-$(ajson GET "/v1/volumes/$U1" | jq -r .array_volume)
check "bind U1 to h1" v disk bind "$U1" --host h1 --lun 0
check "map U1" v disk map "$U1"
check "bind U2 to h2" v disk bind "$U2" --host h2 --lun 0
check "map U2" v disk map "$U2"

# qio HOST EXPECT CMD...: qemu-io commands on HOST's LUN 0; its output must
# hold EXPECT and no failed pattern check (qemu-io exits 0 either way).
qio() {
  local h=$1 expect=$2 out
  shift 2
  local args=()
  for c in "$@"; do args+=(-c "$c"); done
  out=$(timeout 60 qemu-io --object "secret,id=sec0,data=$(<"$E2E_TMP/$h.secret")" --image-opts \
    "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$h,lun=0,initiator-name=iqn.2026-11.org.test:$h,user=$h,password-secret=sec0" \
    "${args[@]}" 2>&1)
  echo "$out"
  grep -q "$expect" <<<"$out" && ! grep -q "Pattern verification failed" <<<"$out"
}

check "h1 writes its RBD LUN" qio h1 "wrote 65536/65536" "write -P 0x5a 0 64k"
check "h2 writes its file LUN" qio h2 "wrote 65536/65536" "write -P 0x3c 0 64k"
# An initiator that stays logged in and writes while serve is killed: the
# gateway holds the image's exclusive lock at that moment.
qemu-io --object "secret,id=sec0,data=$(<"$E2E_TMP/h1.secret")" --image-opts \
  "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:h1,lun=0,initiator-name=iqn.2026-11.org.test:h1,user=h1,password-secret=sec0" \
  -c "write -P 0x11 1M 1M" -c "sleep 30000" -c "write -P 0x11 2M 1M" >"$E2E_TMP/busy.out" 2>&1 &
BUSY=$!
e2e_on_exit "kill -9 $BUSY"
wait_for_file_line "$E2E_TMP/busy.out" "wrote 1048576" 30 || fail_now "the busy writer did not write: $(cat "$E2E_TMP/busy.out")"
lock_owner() { admin_rbd lock ls "$IMG" 2>/dev/null | awk 'NR>1 && $1 ~ /^client\./ {print $1}'; }
OWNER=$(lock_owner)
check_ne "vsl serve holds the image's exclusive lock" "$OWNER" ""

log "SIGKILL vsl serve (pid $SERVE_PID) with U1 mapped, written and its lock held"
kill -9 "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
kill -9 "$BUSY" 2>/dev/null
serve_start "$E2E_TMP/data"
check "the restarted serve reads what h1 wrote before the kill" qio h1 "read 65536/65536" "read -P 0x5a 0 64k"
check "... and what the busy writer wrote" qio h1 "read 1048576/1048576" "read -P 0x11 1M 1M"
check "... and writes the RBD LUN (it holds the lock now)" qio h1 "wrote 4096/4096" "write -f -P 0x6b 64k 4k"
check "the write is in the image" cmp -n 4096 <(admin_rbd export "$IMG" - 2>/dev/null | tail -c +$((64 * 1024 + 1))) \
  <(head -c 4096 /dev/zero | tr '\0' '\153')
check_ne "the lock changed hands" "$OWNER" "$(lock_owner)"
check "the serve log says which dead client's lock was broken" grep -q "broke the exclusive lock of .*$IMG" "$SERVE_LOG"
check "h2's file LUN is unharmed" qio h2 "read 65536/65536" "read -P 0x3c 0 64k"

# ---- the cluster down while vsl serve starts ----
check "the restarted serve notes its own Ceph clients" test -s "$E2E_TMP/data/rbd-clients"
check "vsl serve stops" serve_stop
check_not "... and, stopped cleanly, leaves no client to fence" test -e "$E2E_TMP/data/rbd-clients"

# ---- a dead holder whose watch the cluster still sees ----
# A killed serve whose machine vanished: its connections never closed, so
# the OSD keeps its watch on the image for 30 s and librbd takes it for
# alive. Played by a frozen process that holds U1's lock, noted in
# DATA/rbd-clients as a client of an earlier serve of this data directory:
# the next serve breaks its lock (fencing it) and serves U1 at once.
jq -n --arg pool "$VSL_CEPH_POOL" --arg image "$IMG" --arg conf "$VSL_CEPH_CONF" --arg user "$VSL_CEPH_USER" \
  --arg keyring "$VSL_CEPH_KEYRING" --argjson len $((16 * MiB)) \
  '{listen: "127.0.0.1:0", hosts: [{name: "h9", initiator: "iqn.2026-11.org.test:h9", allow_no_auth: true,
    luns: [{lun: 0, extents: [{rbd: {pool: $pool, image: $image, conf: $conf, user: $user, keyring: $keyring},
                               length: $len}]}]}]}' >"$E2E_TMP/gw.json"
"$VSL" gateway --config "$E2E_TMP/gw.json" >"$E2E_TMP/gw.out" 2>&1 &
GW=$!
e2e_on_exit "kill -9 $GW"
for ((i = 0; i < 300; i++)); do
  [[ -n $(lock_owner) ]] && break
  sleep 0.1
done
HOLDER=$(admin_rbd lock ls "$IMG" 2>/dev/null | awk 'NR>1 && $1 ~ /^client\./ {print $NF}')
check_ne "a standalone gateway holds U1's lock" "$HOLDER" ""
kill -STOP "$GW"
FSID=$(awk '$1 == "fsid" {print $3}' "$VSL_CEPH_CONF")
echo "$FSID ${HOLDER##*/} $HOLDER" >"$E2E_TMP/data/rbd-clients"
serve_start "$E2E_TMP/data"
check "serve breaks the frozen holder's lock" grep -q "broke the exclusive lock of .*$IMG (held by $HOLDER)" "$SERVE_LOG"
check "... and h1 reads its RBD LUN at once" qio h1 "read 4096/4096" "read -P 0x6b 64k 4k"
check "... and writes it" qio h1 "wrote 4096/4096" "write -P 0x6c 64k 4k"
check "the frozen holder is blocklisted" bash -c "timeout 60 ceph -c '$VSL_CEPH_CONF' -n client.admin -k '$VSL_CEPH_ADMIN_KEYRING' osd blocklist ls 2>&1 | grep -qF '$HOLDER'"
kill -9 "$GW"
check "vsl serve stops" serve_stop
if [[ ${RESTART_ONLY_KILL:-0} == 1 ]]; then e2e_finish; exit; fi
log "stopping the cluster"
ceph_stop "$CLUSTER"
serve_start "$E2E_TMP/data"
check_eq "r1 is shown disconnected" disconnected "$(ajson GET /v1/arrays/r1 | jq -r .state)"
check "... with the reason" bash -c "$(declare -f ajson api); ajson GET /v1/arrays/r1 | jq -r .reason | grep -q ."
check_eq "f1 is connected" connected "$(ajson GET /v1/arrays | jq -r '.arrays[] | select(.name=="f1") | .state')"
check "vsl array list says so" bash -c "'$VSL' array list | grep -E '^r1 .*disconnected'"
check "h2 reads its file LUN" qio h2 "read 65536/65536" "read -P 0x3c 0 64k"
check "h2 writes its file LUN" qio h2 "wrote 4096/4096" "write -P 0x4d 64k 4k"
check_fails "discovery of r1 is refused" v array discover r1
check "... naming the array and that it is disconnected" grep -q "r1.*disconnected" "$E2E_TMP/check.$E2E_CHECKS.out"
check_fails "a unit on r1 cannot be allocated" v disk allocate --size 4MiB --quality media=ceph
log "starting the cluster again"
ceph_resume "$CLUSTER" || fail_now "the cluster did not come back"
for ((i = 0; i < 120; i++)); do
  [[ $(ajson GET /v1/arrays/r1 | jq -r .state) == connected ]] && break
  sleep 1
done
check_eq "r1 reconnected by itself" connected "$(ajson GET /v1/arrays/r1 | jq -r .state)"
ok=0
for ((i = 0; i < 30; i++)); do
  qio h1 "read 4096/4096" "read -P 0x6c 64k 4k" >/dev/null && { ok=1; break; }
  sleep 1
done
check_eq "h1 reads its RBD LUN again" 1 "$ok"
check "... and writes it" qio h1 "wrote 4096/4096" "write -P 0x7e 128k 4k"
check "discovery of r1 works again" v array discover r1
check "vsl serve stops" serve_stop

# ---- the monitor answers, the OSD does not ----
# The array's handle connects, but the manifest cannot be read: the read
# times out (rados_osd_op_timeout) instead of holding vsl serve's start.
log "stopping the OSD only"
_ceph_stop_daemon "$CLUSTER" osd
serve_start "$E2E_TMP/data"
check_eq "r1 is disconnected with its OSD down" disconnected "$(ajson GET /v1/arrays/r1 | jq -r .state)"
check "... the reason says the cluster did not answer" \
  bash -c "$(declare -f ajson api); ajson GET /v1/arrays/r1 | jq -r .reason | grep -q 'did not answer'"
check "h2 reads its file LUN" qio h2 "read 4096/4096" "read -P 0x4d 64k 4k"
ceph_resume "$CLUSTER" || fail_now "the OSD did not come back"
for ((i = 0; i < 120; i++)); do
  [[ $(ajson GET /v1/arrays/r1 | jq -r .state) == connected ]] && break
  sleep 1
done
check_eq "r1 reconnected once the OSD is back" connected "$(ajson GET /v1/arrays/r1 | jq -r .state)"
ok=0
for ((i = 0; i < 30; i++)); do
  qio h1 "read 4096/4096" "read -P 0x7e 128k 4k" >/dev/null && { ok=1; break; }
  sleep 1
done
check_eq "h1 reads its RBD LUN again" 1 "$ok"
check "vsl serve stops" serve_stop
e2e_finish
