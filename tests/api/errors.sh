#!/usr/bin/env bash
# API and CLI errors: a bad or missing token is 401 "unauthenticated"; an
# unknown host is 404 "not_found"; a malformed body is 400
# "invalid_argument" naming the field; unknown paths and operations are
# JSON errors too; names outside the name rule (paths, NUL, escapes, too
# long), bad initiator names, sizes past 4 EiB and array directories that
# overlap the data directory or another array are refused before anything is
# queued; a bind with a read_only that is not a boolean, a read-write bind
# of an image's master volume and a bind of an unknown volume are refused
# before anything is queued; and none of them changes anything (hosts,
# volumes, requests, events, arrays stay as they were). An FML file that is not UTF-8 is an error at
# file:line:column, not a crash. Usage: errors.sh VSL
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 120
catalog_init
serve_start "$E2E_TMP/data"
check "host h1 added" v host add h1 --hw std --initiator iqn.2026-11.org.test:h1
check "array a1 added" v array add a1 --path "$E2E_TMP/a1" --capacity 4MiB

head -c 65536 /dev/urandom >"$E2E_TMP/img.raw"
check "image img imported" v image import img "$E2E_TMP/img.raw"
MASTER=$(v image list --json | jq '.images[] | select(.name == "img") | .master_volume_id')

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
# expect_msg STATUS CODE TEXT CURL-ARGS...: like expect, and the message
# holds TEXT (a fixed string).
expect_msg() {
  local status=$1 code=$2 text=$3 out
  shift 3
  out=$(curl -s -w '\n%{http_code}' "$@")
  [[ $(tail -1 <<<"$out") == "$status" ]] || { echo "HTTP $(tail -1 <<<"$out"), want $status: $out"; return 1; }
  [[ $(sed '$d' <<<"$out" | jq -r .error.code) == "$code" ]] || { echo "code: $out"; return 1; }
  sed '$d' <<<"$out" | jq -r .error.message | grep -qF -- "$text" || { echo "message: $out"; return 1; }
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
check "bind of an unknown volume: 404, nothing queued" expect 404 not_found "" "${A[@]}" -X POST \
  --data-binary '{"volume":999999,"host":"nobody","lun":0}' "$VSL_API/v1/disks/bind?wait=true"
check "bind of an unknown volume read-only: 404" expect_msg 404 not_found "volume 999999 does not exist" "${A[@]}" \
  -X POST --data-binary '{"volume":999999,"host":"h1","lun":0,"read_only":true}' "$VSL_API/v1/disks/bind?wait=true"
check "bind to an unknown host: 404 naming it" expect_msg 404 not_found "host 'nobody'" "${A[@]}" -X POST \
  --data-binary "{\"volume\":$MASTER,\"host\":\"nobody\",\"lun\":0,\"read_only\":true}" "$VSL_API/v1/disks/bind?wait=true"
check "read_only as a string: 400 naming 'read_only' and what it must be" expect_msg 400 invalid_argument "field 'read_only': expected true or false" "${A[@]}" -X POST \
  --data-binary "{\"volume\":$MASTER,\"host\":\"h1\",\"lun\":0,\"read_only\":\"yes\"}" "$VSL_API/v1/disks/bind?wait=true"
check "read_only as a number: 400 naming 'read_only' and what it must be" expect_msg 400 invalid_argument "field 'read_only': expected true or false" "${A[@]}" -X POST \
  --data-binary "{\"volume\":$MASTER,\"host\":\"h1\",\"lun\":0,\"read_only\":1}" "$VSL_API/v1/disks/bind?wait=true"
check "read_only as a list: 400 naming 'read_only' and what it must be" expect_msg 400 invalid_argument "field 'read_only': expected true or false" "${A[@]}" -X POST \
  --data-binary "{\"volume\":$MASTER,\"host\":\"h1\",\"lun\":0,\"read_only\":[true]}" "$VSL_API/v1/disks/bind?wait=true"
check "a read-write bind of an image master: 409 naming the volume and the image" \
  expect_msg 409 failed_precondition "volume $MASTER is the master of image 'img'" "${A[@]}" -X POST \
  --data-binary "{\"volume\":$MASTER,\"host\":\"h1\",\"lun\":0}" "$VSL_API/v1/disks/bind?wait=true"
check "read_only false on an image master: the same" \
  expect_msg 409 failed_precondition "bind it read-only" "${A[@]}" -X POST \
  --data-binary "{\"volume\":$MASTER,\"host\":\"h1\",\"lun\":0,\"read_only\":false}" "$VSL_API/v1/disks/bind?wait=true"
check_fails "vsl disk bind of the master without --read-only fails" v disk bind "$MASTER" --host h1 --lun 0
check "the test fault route is refused without a token" expect 401 unauthenticated "" -X POST \
  --data-binary '{"op":"gateway-map"}' "$VSL_API/v1/test/faults"

host_body() { printf '{"name":"%s","hw":"std","initiators":["%s"]}' "$1" "${2:-iqn.2026-11.org.test:x}"; }

log "names, initiators and sizes"
check "host name ../../etc: 400 naming the host name" expect_msg 400 invalid_argument "host name '../../etc'" \
  "${A[@]}" -X POST --data-binary "$(host_body ../../etc)" "$VSL_API/v1/hosts"
check "host name with a NUL: 400" expect_msg 400 invalid_argument "host name 'a\\x00b'" \
  "${A[@]}" -X POST --data-binary "$(host_body 'a\u0000b')" "$VSL_API/v1/hosts"
check "host name with an ESC sequence: 400" expect_msg 400 invalid_argument "host name 'x\\x1b[31m'" \
  "${A[@]}" -X POST --data-binary "$(host_body 'x\u001b[31m')" "$VSL_API/v1/hosts"
check "host name of 64 characters: 400" expect_msg 400 invalid_argument "longer than 63" \
  "${A[@]}" -X POST --data-binary "$(host_body "$(printf 'h%.0s' {1..64})")" "$VSL_API/v1/hosts"
check "host name starting with '-': 400" expect_msg 400 invalid_argument "host name '-rf'" \
  "${A[@]}" -X POST --data-binary "$(host_body -rf)" "$VSL_API/v1/hosts"
check "an initiator without a date: 400 naming 'initiators'" expect 400 invalid_argument initiators \
  "${A[@]}" -X POST --data-binary "$(host_body h7 iqn.t:db)" "$VSL_API/v1/hosts"
check "an initiator with a NUL (a SendTargets injection): 400" expect 400 invalid_argument initiators \
  "${A[@]}" -X POST --data-binary "$(host_body h7 'iqn.2026-11.org.test:a\u0000SessionType=Normal')" "$VSL_API/v1/hosts"
check "an upper-case iqn: 400" expect 400 invalid_argument initiators \
  "${A[@]}" -X POST --data-binary "$(host_body h7 iqn.2026-11.org.test:Web)" "$VSL_API/v1/hosts"
check "a CHAP secret with a control character: 400 naming 'chap_secret'" expect 400 invalid_argument chap_secret \
  "${A[@]}" -X POST --data-binary '{"name":"h7","hw":"std","initiators":["iqn.2026-11.org.test:h7"],"chap_secret":"0123456789ab\u0007cdef"}' \
  "$VSL_API/v1/hosts"
check "a host name that is not UTF-8 in the path: 404 as JSON" expect 404 not_found "" "${A[@]}" \
  "$VSL_API/v1/hosts/%ff%fe"
check "a body that is not UTF-8: 400" expect 400 invalid_argument "" "${A[@]}" -X POST \
  --data-binary $'{"name":"\xff","hw":"std","initiators":["iqn.2026-11.org.test:x"]}' "$VSL_API/v1/hosts"
check "allocate of 2^64-1 bytes: 400 naming 'size', not queued" expect 400 invalid_argument size "${A[@]}" -X POST \
  --data-binary '{"size":18446744073709551615}' "$VSL_API/v1/disks/allocate"
check "allocate of 16E: 400 naming 'size'" expect 400 invalid_argument size "${A[@]}" -X POST \
  --data-binary '{"size":"16E"}' "$VSL_API/v1/disks/allocate"
check "allocate of 2^63 bytes (rounding would overflow int64): 400" expect 400 invalid_argument size "${A[@]}" -X POST \
  --data-binary '{"size":9223372036854775807}' "$VSL_API/v1/disks/allocate"

log "array directories and capacities"
array_body() { printf '{"name":"%s","path":"%s","capacity":%s}' "$1" "$2" "${3:-4194304}"; }
check "capacity 2^64-1: 400 naming 'capacity'" expect 400 invalid_argument capacity "${A[@]}" -X POST \
  --data-binary "$(array_body big "$E2E_TMP/big" 18446744073709551615)" "$VSL_API/v1/arrays"
check "capacity past the file system's size: 400 saying so" expect_msg 400 invalid_argument "larger than the file system" \
  "${A[@]}" -X POST --data-binary "$(array_body big "$E2E_TMP/big" '"1048576TiB"')" "$VSL_API/v1/arrays"
check "array name ../x: 400" expect_msg 400 invalid_argument "array name '../x'" "${A[@]}" -X POST \
  --data-binary "$(array_body ../x "$E2E_TMP/x")" "$VSL_API/v1/arrays"
check "an array inside the data directory: 400" expect_msg 400 invalid_argument "is inside the data directory" \
  "${A[@]}" -X POST --data-binary "$(array_body in "$VSL_DATA/arrays/mine")" "$VSL_API/v1/arrays"
check "a '..' path into the data directory: resolved, 400" expect_msg 400 invalid_argument "is inside the data directory" \
  "${A[@]}" -X POST --data-binary "$(array_body dots "$E2E_TMP/a1/../$(basename "$VSL_DATA")/x")" "$VSL_API/v1/arrays"
check "an array holding the data directory: 400" expect_msg 400 invalid_argument "contains the data directory" \
  "${A[@]}" -X POST --data-binary "$(array_body up "$E2E_TMP")" "$VSL_API/v1/arrays"
check "an array inside array a1: 400" expect_msg 400 invalid_argument "is inside array 'a1'" \
  "${A[@]}" -X POST --data-binary "$(array_body in2 "$E2E_TMP/a1/volumes/x")" "$VSL_API/v1/arrays"
check "a '..' path into array a1: 400" expect_msg 400 invalid_argument "is inside array 'a1'" \
  "${A[@]}" -X POST --data-binary "$(array_body in3 "$E2E_TMP/nothere/../a1/y")" "$VSL_API/v1/arrays"
check "array a1's own directory under another name: 400" expect_msg 400 invalid_argument "array 'a1'" \
  "${A[@]}" -X POST --data-binary "$(array_body twin "$E2E_TMP/a1")" "$VSL_API/v1/arrays"
check_not "no directory was made for a refused array" ls -d "$E2E_TMP/big" "$E2E_TMP/x" "$VSL_DATA/arrays/mine" \
  "$VSL_DATA/x" "$E2E_TMP/a1/volumes/x" "$E2E_TMP/a1/y"
check "the server still answers" ajson GET /v1/hosts/h1

# Bad binds are refused before anything is queued, so not even a failed
# request is left; drop request events (none expected) before comparing.
snapshot | jq -S 'if has("events") then .events |= map(select(.entity != "request" or .op == "x"))
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

log "the CLI with an FML file that is not UTF-8"
printf '<farm fmlversion="1.1"\n      name="we\xffb"/>\n' >"$E2E_TMP/bad.fml"
rc=0
v farm plan "$E2E_TMP/bad.fml" >"$E2E_TMP/bad.out" 2>&1 || rc=$?
check_eq "vsl farm plan exits 2 (invalid argument)" 2 "$rc"
check "the message names file:line:column" grep -qF "bad.fml:2:15: not valid UTF-8 (byte \\xff)" "$E2E_TMP/bad.out"
check_not "and it did not crash" grep -q "terminate called" "$E2E_TMP/bad.out"
rc=0
v host add $'\xff\xfe' --hw std --initiator iqn.2026-11.org.test:ff >"$E2E_TMP/ff.out" 2>&1 || rc=$?
check_eq "vsl host add with a name that is not UTF-8: refused with exit 2" 2 "$rc"
check_not "and no crash" grep -q "terminate called" "$E2E_TMP/ff.out"
check_not "no host was added by the CLI checks" ajson GET /v1/hosts/h7
check "vsl serve stops cleanly" serve_stop

log "the gateway's limits, set on vsl serve"
rc=0
"$VSL" serve --config '' --data "$E2E_TMP/small" --api 127.0.0.1:0 --iscsi 127.0.0.1:0 --iscsi-write-budget 1MiB \
  >"$E2E_TMP/small.out" 2>&1 || rc=$?
check_eq "--iscsi-write-budget below 8MiB: usage error" 2 "$rc"
check "and it says why" grep -q "iscsi-write-budget 1MiB is below 8MiB" "$E2E_TMP/small.out"
serve_start "$E2E_TMP/limits" --iscsi-max-connections-per-address 2
exec 5<>"/dev/tcp/127.0.0.1/$ISCSI_PORT" 6<>"/dev/tcp/127.0.0.1/$ISCSI_PORT" 7<>"/dev/tcp/127.0.0.1/$ISCSI_PORT"
# The third connection from 127.0.0.1 is closed at once: EOF (status 1), not
# a timeout (status > 128) as on the two admitted ones.
rc=0; read -r -t 3 -u 7 _ || rc=$?
check_eq "the third connection from one address is closed at accept" 1 "$rc"
rc=0; read -r -t 1 -u 5 _ || rc=$?
check "the first one stays open (its read times out)" test "$rc" -gt 128
exec 5>&- 6>&- 7>&-
check "vsl serve stops cleanly" serve_stop
e2e_finish
