#!/usr/bin/env bash
# The control plane's own doors (issue 8 §3): the data directory is private
# and vsl serve refuses a catalog others can read; the API checks the token
# before it reads a body (four unauthenticated 512 MB POSTs leave its memory
# alone), caps bodies, and slow clients cannot keep a token holder out;
# images are uploaded (digest checked) and the server opens no path a client
# names outside --import-dir. Usage: doors.sh VSL
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 240
catalog_init
DATA=$E2E_TMP/data

log "a fresh data directory is private"
serve_start "$DATA"
check_eq "data directory is 0700" 700 "$(stat -c %a "$DATA")"
check_eq "admin.token is 0600" 600 "$(stat -c %a "$DATA/admin.token")"
if [[ $API_CATALOG == sqlite ]]; then
  check_eq "catalog.db, -wal, -shm are 0600" "600 600 600" \
    "$(stat -c %a "$DATA/catalog.db" "$DATA/catalog.db-wal" "$DATA/catalog.db-shm" | xargs)"
fi
check_eq "nothing in it is open to group or others" "" \
  "$(find "$DATA" \( -type f -o -type d \) -perm /077 -printf '%m %p\n')"
TOKEN=$(cat "$DATA/admin.token")
AUTH=(-H "Authorization: Bearer $TOKEN")

log "four unauthenticated 512 MB POSTs: 401 before the body is read"
truncate -s 512M "$E2E_TMP/zero.512M" # sparse: nothing is read from disk
post_big() {
  # -H 'Expect:': send the body at once, as an attacker would, without
  # waiting for 100-continue.
  curl -sS -o "$E2E_TMP/big.$1.out" -w '%{http_code}' -H 'Expect:' -H 'Content-Type: application/json' \
    -X POST -T "$E2E_TMP/zero.512M" "$VSL_API/v1/hosts" >"$E2E_TMP/big.$1.code" 2>"$E2E_TMP/big.$1.err"
}
pids=()
for i in 1 2 3 4; do
  post_big $i &
  pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3 4; do
  check_eq "POST $i: 401" 401 "$(cat "$E2E_TMP/big.$i.code")"
  check_eq "POST $i: error code unauthenticated" unauthenticated "$(jq -r .error.code "$E2E_TMP/big.$i.out")"
done
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
log "vsl serve peak RSS after them: $HWM kB"
check "peak RSS stays under 200 MB" test "$HWM" -lt 204800
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -T "$E2E_TMP/zero.512M" "$VSL_API/v1/hosts")
check_eq "with Expect: 100-continue the refusal comes instead of the 100: 401" 401 "$code"

log "bodies are capped for token holders"
code=$(curl -sS -o "$E2E_TMP/413.out" -w '%{http_code}' "${AUTH[@]}" -H 'Expect:' -H 'Content-Type: application/json' \
  -X POST -T "$E2E_TMP/zero.512M" "$VSL_API/v1/hosts")
check_eq "an authenticated 512 MB POST: 413" 413 "$code"
check "its error names the limit and the flag" grep -q -- "--api-max-body" "$E2E_TMP/413.out"
code=$(head -c 100000 /dev/zero | curl -sS -o "$E2E_TMP/411.out" -w '%{http_code}' "${AUTH[@]}" \
  -H 'Transfer-Encoding: chunked' -X POST --data-binary @- "$VSL_API/v1/hosts")
check_eq "a chunked body on a capped route: 411" 411 "$code"
check "a small body is still fine" v host add h1 --hw std --initiator iqn.2026-11.org.test:h1
check_eq "nothing else was added" h1 "$(ajson GET /v1/hosts | jq -r '[.hosts[].name] | join(",")')"

log "eight slow-header clients; the CLI is still answered"
python3 "$HERE/tools/slow_client.py" "$API_PORT" 8 3 5 >"$E2E_TMP/slow1.out" 2>&1 &
SLOW=$!
e2e_on_exit "kill $SLOW"
sleep 1
check "vsl host list answers within 10 s" timeout 10 "$VSL" host list
wait "$SLOW"

log "images are uploaded; the server computes the SHA-256"
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$E2E_TMP/img.raw"
SHA=$(sha256sum "$E2E_TMP/img.raw" | cut -d' ' -f1)
check "vsl image import uploads it" run_to "$E2E_TMP/import.out" "$VSL" image import up "$E2E_TMP/img.raw"
check "its output has the SHA-256" grep -q "sha256 $SHA" "$E2E_TMP/import.out"
check_eq "image list: size and SHA-256" "$((3 * 1024 * 1024 + 12345)) $SHA" \
  "$(ajson GET /v1/images/up | jq -r '"\(.size) \(.sha256)"')"
code=$(curl -sS -o "$E2E_TMP/put.out" -w '%{http_code}' "${AUTH[@]}" -T "$E2E_TMP/img.raw" "$VSL_API/v1/images/up2")
check_eq "PUT /v1/images/up2 with curl: 201" 201 "$code"
check_eq "it returns the SHA-256" "$SHA" "$(jq -r .result.sha256 "$E2E_TMP/put.out")"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Expect:' -T "$E2E_TMP/zero.512M" "$VSL_API/v1/images/nope")
check_eq "an upload without the token: 401" 401 "$code"
check_eq "the staging directory is empty again" "" "$(ls -A "$DATA/uploads")"
check_fails "no image 'nope'" ajson GET /v1/images/nope
truncate -s 300M "$E2E_TMP/big.img"
check "a 300 MB image uploads" v image import big300 "$E2E_TMP/big.img"
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
log "vsl serve peak RSS after it: $HWM kB"
check "... streamed: peak RSS still under 200 MB" test "$HWM" -lt 204800
check "on a terminal it draws a progress bar" script -qec \
  "'$VSL' image import up3 '$E2E_TMP/img.raw'" "$E2E_TMP/tty.out"
check "... that reaches 100%" grep -q "100%" "$E2E_TMP/tty.out"
check_not "... and not when stderr is not a terminal" grep -q "%" "$E2E_TMP/import.out"
python3 "$HERE/tools/lying_server.py" >"$E2E_TMP/liar.port" &
LIAR=$!
e2e_on_exit "kill $LIAR"
for _ in $(seq 50); do [[ -s $E2E_TMP/liar.port ]] && break; sleep 0.1; done
check_fails "a server that reports another digest: the CLI refuses" run_to "$E2E_TMP/liar.out" \
  "$VSL" image import lie "$E2E_TMP/img.raw" --api "http://127.0.0.1:$(cat "$E2E_TMP/liar.port")" --token t
check "... saying data_loss and both digests" grep -q "data_loss.*$SHA.*0000000000" "$E2E_TMP/liar.out"
kill "$LIAR"

log "no path a client names is opened without --import-dir"
check_eq "/etc/shadow by the file form: 403 permission_denied" "403 permission_denied" \
  "$(api POST /v1/images '{"name":"shadow","file":"/etc/shadow"}' | tac | jq -rs '"\(.[0]) \(.[1].error.code)"')"
check_fails "vsl image import --server-side is refused too" "$VSL" image import shadow /etc/shadow --server-side
serve_stop

log "slow clients are dropped at the header deadline, also when they fill every slot"
serve_start "$DATA" --api-max-connections 2 --api-header-timeout 3 --api-max-body 1MiB --api-body-timeout 2
python3 "$HERE/tools/slow_client.py" "$API_PORT" 8 1 12 >"$E2E_TMP/slow2.out" 2>&1 &
SLOW=$!
e2e_on_exit "kill $SLOW"
sleep 1
check "vsl host list answers within 10 s (2 slots, 8 slow clients)" timeout 10 "$VSL" host list
wait "$SLOW"
check_eq "the server closed all 8 slow clients before they finished" "closed 8 of 8" "$(cat "$E2E_TMP/slow2.out")"
check_eq "a body sent one byte a second: 408 at the 2 s body deadline" "HTTP/1.1 408 Request Timeout" \
  "$(python3 "$HERE/tools/slow_body.py" "$API_PORT" "$TOKEN" 1)"
code=$(head -c 2000000 /dev/zero | curl -sS -o /dev/null -w '%{http_code}' "${AUTH[@]}" -X POST --data-binary @- \
  "$VSL_API/v1/hosts")
check_eq "--api-max-body 1MiB: a 2 MB body gets 413" 413 "$code"
check "... but a 3 MB image upload is not capped" v image import big "$E2E_TMP/img.raw"
serve_stop

log "connections beyond the pool's room get 503 at once"
serve_start "$DATA" --api-max-connections 2 --api-header-timeout 30
python3 "$HERE/tools/flood.py" "$API_PORT" 100 2 >"$E2E_TMP/flood.out" 2>&1
check_eq "100 idle connections, 2 first (served), then 98 (64 wait): 34 get 503" "503 on 34 of 100" "$(cat "$E2E_TMP/flood.out")"
serve_stop

log "with --import-dir: inside only (realpath, O_NOFOLLOW)"
IMP=$E2E_TMP/import
mkdir -p "$IMP/sub"
cp "$E2E_TMP/img.raw" "$IMP/sub/ok.raw"
ln -s /etc/shadow "$IMP/link"
ln -s /etc "$IMP/etcdir"
check_fails "an import directory inside the data directory is refused" timeout 20 \
  "$VSL" serve --config '' --data "$DATA" --import-dir "$DATA/arrays" --api 127.0.0.1:0 --iscsi 127.0.0.1:0
serve_start "$DATA" --import-dir "$IMP"
refused() { # FILE: the file form is 403 permission_denied and makes no image
  local out
  out=$(api POST /v1/images "{\"name\":\"bad\",\"file\":\"$1\"}")
  [[ $(tail -1 <<<"$out") == 403 ]] && [[ $(sed '$d' <<<"$out" | jq -r .error.code) == permission_denied ]] ||
    { echo "$out"; return 1; }
}
check "absolute path outside: /etc/shadow" refused /etc/shadow
check "a symlink inside pointing out" refused link
check "a path through a symlinked directory" refused etcdir/shadow
check "'..' out of the directory" refused ../../../../etc/shadow
check "'..' from an absolute path inside" refused "$IMP/sub/../../../../../etc/shadow"
check_fails "no image 'bad' was made" ajson GET /v1/images/bad
check "a file inside is imported" run_to "$E2E_TMP/srv.out" "$VSL" image import inside sub/ok.raw --server-side
check_eq "with the file's SHA-256" "$SHA" "$(ajson GET /v1/images/inside | jq -r .sha256)"
serve_stop

log "vsl serve killed after an upload was staged: the import finishes after the restart"
export VSL_CRASH_AT=api.image-staged:1
serve_start "$DATA"
unset VSL_CRASH_AT
check_fails "the upload's reply never comes (the server died)" v image import crashed "$E2E_TMP/img.raw"
wait "$SERVE_PID" 2>/dev/null
check "the server died at the crash point" grep -q "crash point api.image-staged" "$SERVE_LOG"
check_eq "the staged copy is left for the request" 1 "$(find "$DATA/uploads" -name '*.img' | wc -l)"
serve_start "$DATA"
for _ in $(seq 100); do ajson GET /v1/images/crashed >/dev/null 2>&1 && break; sleep 0.2; done
check_eq "after the restart image 'crashed' is there, with the file's SHA-256" "$SHA" \
  "$(ajson GET /v1/images/crashed | jq -r .sha256)"
serve_stop
serve_start "$DATA"
check_eq "the next start removes the staged copy no request needs" "" "$(ls -A "$DATA/uploads")"
serve_stop

log "vsl serve refuses a catalog or data directory others can read"
if [[ $API_CATALOG == sqlite ]]; then
  chmod 644 "$DATA/catalog.db"
  check_fails "catalog.db 0644: serve exits non-zero" run_to "$E2E_TMP/refuse1.out" timeout 20 \
    "$VSL" serve --config '' --data "$DATA" --api 127.0.0.1:0 --iscsi 127.0.0.1:0
  check "it names the file and the fix" grep -q "catalog.db is mode 0644.*chmod 600" "$E2E_TMP/refuse1.out"
  chmod 600 "$DATA/catalog.db"
fi
chmod 644 "$DATA/admin.token"
check_fails "admin.token 0644: serve exits non-zero" run_to "$E2E_TMP/refuse2.out" timeout 20 \
  "$VSL" serve --config '' --data "$DATA" --api 127.0.0.1:0 --iscsi 127.0.0.1:0 ${CATALOG_URL:+--catalog "$CATALOG_URL"}
check "it names the token and the fix" grep -q "admin.token is mode 0644.*chmod 600" "$E2E_TMP/refuse2.out"
chmod 600 "$DATA/admin.token"
chmod 755 "$DATA"
check_fails "data directory 0755: serve exits non-zero" run_to "$E2E_TMP/refuse3.out" timeout 20 \
  "$VSL" serve --config '' --data "$DATA" --api 127.0.0.1:0 --iscsi 127.0.0.1:0 ${CATALOG_URL:+--catalog "$CATALOG_URL"}
check "it says chmod 700" grep -q "is mode 0755.*chmod 700" "$E2E_TMP/refuse3.out"
chmod 700 "$DATA"
serve_start "$DATA"
check "after the fix it starts and serves" v image list
serve_stop

e2e_finish
