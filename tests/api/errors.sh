#!/usr/bin/env bash
# API and CLI errors: a bad or missing token is 401 "unauthenticated"; an
# unknown host is 404 "not_found"; a malformed body is 400
# "invalid_argument" naming the field; unknown paths and operations are
# JSON errors too; and none of them changes anything (hosts, volumes,
# requests, events stay as they were). Usage: errors.sh VSL
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 120
catalog_init
serve_start "$E2E_TMP/data"
check "host h1 added" v host add h1 --hw std --initiator iqn.2026-11.org.test:h1

snapshot() {
  for p in /v1/hosts "/v1/volumes?x=1" "/v1/requests" "/v1/events" /v1/arrays /v1/images; do
    ajson GET "$p" | jq -S 'del(.. | .discovered_ms?)'
  done
}
snapshot >"$E2E_TMP/before.json"

# expect STATUS CODE FIELD-OR-EMPTY CURL-ARGS...: the reply's HTTP status, its
# error code, and (when given) a message that names the field.
expect() {
  local status=$1 code=$2 field=$3 out
  shift 3
  out=$(curl -s -w '\n%{http_code}' "$@")
  [[ $(tail -1 <<<"$out") == "$status" ]] || { echo "HTTP $(tail -1 <<<"$out"), want $status: $out"; return 1; }
  [[ $(sed '$d' <<<"$out" | jq -r .error.code) == "$code" ]] || { echo "code: $out"; return 1; }
  [[ -z $field ]] || sed '$d' <<<"$out" | jq -r .error.message | grep -q "'$field'" || { echo "field: $out"; return 1; }
}
TOKEN=$(cat "$VSL_DATA/admin.token")
A=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')

check "no token: 401 unauthenticated" expect 401 unauthenticated "" "$VSL_API/v1/hosts"
check "bad token: 401 unauthenticated" expect 401 unauthenticated "" -H "Authorization: Bearer x$TOKEN" "$VSL_API/v1/hosts"
check "bad token on a write: 401" expect 401 unauthenticated "" -X POST -H "Authorization: Bearer nope" \
  --data-binary '{"name":"h9","hw":"std","initiators":["iqn.2026-11.org.test:h9"]}' "$VSL_API/v1/hosts"
check "unknown host: 404 not_found" expect 404 not_found "" "${A[@]}" "$VSL_API/v1/hosts/nobody"
check "remove unknown host: 404" expect 404 not_found "" "${A[@]}" -X DELETE "$VSL_API/v1/hosts/nobody"
check "unknown volume: 404" expect 404 not_found "" "${A[@]}" "$VSL_API/v1/volumes/999999"
check "unknown path: 404 JSON" expect 404 not_found "" "${A[@]}" "$VSL_API/v1/nothing-here"
check "bad JSON: 400 invalid_argument" expect 400 invalid_argument "" "${A[@]}" -X POST \
  --data-binary '{"name": "h2", "hw": ' "$VSL_API/v1/hosts"
check "wrong type names the field 'hw'" expect 400 invalid_argument hw "${A[@]}" -X POST \
  --data-binary '{"name":"h2","hw":5,"initiators":["iqn.2026-11.org.test:h2"]}' "$VSL_API/v1/hosts"
check "missing field names 'initiators'" expect 400 invalid_argument initiators "${A[@]}" -X POST \
  --data-binary '{"name":"h2","hw":"std"}' "$VSL_API/v1/hosts"
check "unknown field is named" expect 400 invalid_argument colour "${A[@]}" -X POST \
  --data-binary '{"name":"h2","hw":"std","initiators":["iqn.2026-11.org.test:h2"],"colour":"red"}' "$VSL_API/v1/hosts"
check "a short CHAP secret is refused" expect 400 invalid_argument chap_secret "${A[@]}" -X POST \
  --data-binary '{"name":"h2","hw":"std","initiators":["iqn.2026-11.org.test:h2"],"chap_secret":"short"}' "$VSL_API/v1/hosts"
check "duplicate host: 409 already_exists" expect 409 already_exists "" "${A[@]}" -X POST \
  --data-binary '{"name":"h1","hw":"std","initiators":["iqn.2026-11.org.test:h1b"]}' "$VSL_API/v1/hosts"
check "bad size names 'size'" expect 400 invalid_argument size "${A[@]}" -X POST \
  --data-binary '{"size":"12XB"}' "$VSL_API/v1/disks/allocate?wait=true"
check "a volume id that is not a number names 'volume'" expect 400 invalid_argument volume "${A[@]}" -X POST \
  --data-binary '{"volume":"seven"}' "$VSL_API/v1/disks/scrub?wait=true"
check "grow without a size names 'size'" expect 400 invalid_argument size "${A[@]}" -X POST \
  --data-binary '{"volume":1}' "$VSL_API/v1/disks/grow?wait=true"
check "allocate-unit with a non-boolean meta names 'meta'" expect 400 invalid_argument meta "${A[@]}" -X POST \
  --data-binary '{"size":1048576,"meta":"yes"}' "$VSL_API/v1/disks/allocate-unit?wait=true"
check "unbind with a non-string host names 'host'" expect 400 invalid_argument host "${A[@]}" -X POST \
  --data-binary '{"volume":1,"host":7}' "$VSL_API/v1/disks/unbind?wait=true"
check "unknown disk operation: 404" expect 404 not_found "" "${A[@]}" -X POST --data-binary '{}' "$VSL_API/v1/disks/explode"
check "bind to an unknown host: 404 (from the request)" expect 404 not_found "" "${A[@]}" -X POST \
  --data-binary '{"volume":999999,"host":"nobody","lun":0}' "$VSL_API/v1/disks/bind?wait=true"
check "the test fault route is refused without a token" expect 401 unauthenticated "" -X POST \
  --data-binary '{"op":"gateway-map"}' "$VSL_API/v1/test/faults"

# The one request above (bind of volume 999999) is the only change allowed:
# it was queued and failed. Drop it and its events before comparing.
snapshot | jq -S 'if has("requests") then .requests |= map(select(.op != "bind"))
                  elif has("events") then .events |= map(select(.entity != "request" or .op == "x"))
                  else . end' >"$E2E_TMP/after.json"
jq -S 'if has("events") then .events |= map(select(.entity != "request" or .op == "x")) else . end' \
  "$E2E_TMP/before.json" >"$E2E_TMP/before2.json"
check "nothing else changed (hosts, volumes, requests, events, arrays, images)" \
  diff "$E2E_TMP/before2.json" "$E2E_TMP/after.json"

log "the CLI: exit status and one line on stderr"
check_fails "vsl host show nobody fails" v host show nobody
out=$(v host show nobody 2>&1 >/dev/null)
check_eq "with one line naming the host" "vsl host show: not_found: host 'nobody' does not exist" "$out"
check_fails "a bad token fails" env VSL_TOKEN=wrong "$VSL" host list
check_eq "exit status 2 for a bad size" 2 "$(v disk allocate --size 12XB >/dev/null 2>&1; echo $?)"
check_fails "no server: refused, not hung" timeout 20 "$VSL" host list --api http://127.0.0.1:1
check_eq "--help is not an error" 0 "$(v disk --help >/dev/null; echo $?)"
check "vsl serve stops cleanly" serve_stop
e2e_finish
