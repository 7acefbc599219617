#!/usr/bin/env bash
# The web console against a real `vsl serve`: sessions and CSRF, the event
# stream and its limits, the console's headers (curl), then the console itself
# in headless Chromium (console.test.cjs, playwright-core driving Debian's
# chromium): sign in, design examples/two-tier.fml by dragging from the
# palette, plan, apply and watch it, the farm's page, a reconcile, the admin
# views, destroy, HTML shown as text, CSRF, sign-out. Then tenants: the admin
# adds alpha and beta (`vsl tenant add`), names with HTML are refused, and
# tenants.test.cjs drives both consoles at once (alpha applies a farm from an
# opened FML file; beta sees nothing of it: farms, its URL, the designer,
# events live; HTML in free text shown as text). Screenshots go to
# $UI_SHOTS (default: the build directory's ui-shots/).
# Usage: console.sh VSL   (API_CATALOG=sqlite|pg; default sqlite)
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../api/lib.sh"
e2e_init 240
[[ -x /usr/bin/chromium ]] || fail_now "Debian's chromium is not installed (scripts/deps.sh)"
NODE_DIR=$("$ROOT/scripts/ui-node.sh") || fail_now "playwright-core could not be installed (scripts/ui-node.sh)"
SHOTS=${UI_SHOTS:-$(dirname "$VSL")/ui-shots}
mkdir -p "$SHOTS"

catalog_init
# 8 API connections: at most 2 event streams at once.
serve_start "$E2E_TMP/data" --api-max-connections 8 --session-ttl 600
TOKEN=$(cat "$VSL_DATA/admin.token")

log "sessions: sign in, the cookie, CSRF, sign out"
curl -s -D "$E2E_TMP/h1" -o "$E2E_TMP/b1" -X POST "$VSL_API/v1/session" -d "{\"token\":\"$TOKEN\"}"
COOKIE=$(grep -io 'vsl_session=[0-9a-f]*' "$E2E_TMP/h1")
CSRF=$(jq -r .csrf "$E2E_TMP/b1")
check "the cookie is HttpOnly, SameSite=Strict, Path=/, Max-Age=600" \
  grep -qi '^Set-Cookie: vsl_session=[0-9a-f]\{64\}; HttpOnly; SameSite=Strict; Path=/; Max-Age=600' "$E2E_TMP/h1"
check_eq "the reply says admin, no tenant" "true null" "$(jq -r '"\(.admin) \(.tenant)"' "$E2E_TMP/b1")"
check "the csrf token is 64 hex digits" grep -qE '^[0-9a-f]{64}$' <<<"$CSRF"
head -c 100000 /dev/zero | tr '\0' a >"$E2E_TMP/big"
check_eq "a sign-in body over 4 KiB gets 413 (nobody without a token makes it read more)" 413 \
  "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$VSL_API/v1/session" --data-binary @"$E2E_TMP/big")"
check_eq "a wrong token gets 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$VSL_API/v1/session" -d '{"token":"nope"}')"
check_eq "GET with the cookie works" 200 "$(curl -s -o /dev/null -w '%{http_code}' -b "$COOKIE" "$VSL_API/v1/hosts")"
code=$(curl -s -o "$E2E_TMP/b2" -w '%{http_code}' -b "$COOKIE" -X POST "$VSL_API/v1/hosts" -H 'Content-Type: application/json' \
  -d '{"name":"csrf1","hw":"x86-vm","initiators":["iqn.2026-11.org.test:csrf1"]}')
check_eq "POST with the cookie and no X-VSL-CSRF gets 403" 403 "$code"
check "the refusal names the header" grep -q 'X-VSL-CSRF' "$E2E_TMP/b2"
check_eq "a wrong X-VSL-CSRF gets 403" 403 "$(curl -s -o /dev/null -w '%{http_code}' -b "$COOKIE" -H 'X-VSL-CSRF: 00' \
  -X POST "$VSL_API/v1/hosts" -d '{"name":"csrf1","hw":"x86-vm","initiators":["iqn.2026-11.org.test:csrf1"]}')"
check_fails "and nothing was added" bash -c "'$VSL' host list | grep -q csrf1"
check_eq "with the header it is done" 201 "$(curl -s -o /dev/null -w '%{http_code}' -b "$COOKIE" -H "X-VSL-CSRF: $CSRF" \
  -X POST "$VSL_API/v1/hosts" -d '{"name":"csrf1","hw":"x86-vm","initiators":["iqn.2026-11.org.test:csrf1"]}')"
check_eq "DELETE /v1/session without the header gets 403" 403 \
  "$(curl -s -o /dev/null -w '%{http_code}' -b "$COOKIE" -X DELETE "$VSL_API/v1/session")"
check_eq "sign out" true "$(curl -s -b "$COOKIE" -H "X-VSL-CSRF: $CSRF" -X DELETE "$VSL_API/v1/session" | jq .signed_out)"
check_eq "the cookie is dead on the server" 401 "$(curl -s -o /dev/null -w '%{http_code}' -b "$COOKIE" "$VSL_API/v1/hosts")"
check_eq "the bearer token still works" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$VSL_API/v1/hosts")"

log "the event stream"
# A host added and removed writes no event; a disk allocation does.
ajson POST '/v1/disks/allocate?wait=true' '{"size":"1MiB"}' >/dev/null
FIRST=$(ajson GET '/v1/events?limit=1' | jq '.events[0].id')
timeout 3 curl -sN -H "Authorization: Bearer $TOKEN" -H "Last-Event-ID: $FIRST" "$VSL_API/v1/events/stream" >"$E2E_TMP/sse1"
check "text/event-stream with the events after Last-Event-ID" grep -q "^id: $((FIRST + 1))\$" "$E2E_TMP/sse1"
check_not "not the one named by Last-Event-ID" \
  bash -c "grep '^data: ' '$E2E_TMP/sse1' | cut -c7- | jq -e 'select(.id == $FIRST)'"
check "each event is JSON with its id" bash -c "grep '^data: ' '$E2E_TMP/sse1' | head -1 | cut -c7- | jq -e '.id == $((FIRST + 1))'"
check_eq "a bad Last-Event-ID gets 400 naming it" 400 "$(curl -s -o "$E2E_TMP/b3" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H 'Last-Event-ID: x' "$VSL_API/v1/events/stream")"
check "  (naming the header)" grep -q 'Last-Event-ID' "$E2E_TMP/b3"
# Without Last-Event-ID: only what happens from now on, heartbeats while quiet.
timeout 8 curl -sN -H "Authorization: Bearer $TOKEN" "$VSL_API/v1/events/stream" >"$E2E_TMP/sse2" &
S1=$!
timeout 8 curl -sN -H "Authorization: Bearer $TOKEN" "$VSL_API/v1/events/stream" >"$E2E_TMP/sse3" &
S2=$!
e2e_on_exit "kill $S1 $S2"
for _ in $(seq 50); do [[ -s $E2E_TMP/sse2 && -s $E2E_TMP/sse3 ]] && break; sleep 0.1; done
code=$(curl -s -o "$E2E_TMP/b4" -w '%{http_code}' -m 5 -H "Authorization: Bearer $TOKEN" "$VSL_API/v1/events/stream")
check_eq "a third stream (of at most 2) gets 503" 503 "$code"
check "  naming the limit" grep -q 'too many event streams' "$E2E_TMP/b4"
check_eq "other clients are served while 2 streams run" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H "Authorization: Bearer $TOKEN" "$VSL_API/v1/hosts")"
ajson POST '/v1/disks/allocate?wait=true' '{"size":"1MiB"}' >/dev/null
wait "$S1" "$S2"
check "a stream sees an event that happened after it started" grep -q '"op":"allocate"' "$E2E_TMP/sse2"
# Its first id is where it started (the newest event then, the last sse1
# saw), sent before any event, so that a reconnect resumes there.
NEWEST=$(sed -n 's/^id: //p' "$E2E_TMP/sse1" | tail -1)
check_eq "a stream first names where it starts (id: the newest event then)" "$NEWEST" \
  "$(sed -n 's/^id: //p' "$E2E_TMP/sse2" | head -1)"
check "  in a block without data, before its first event" \
  bash -c "head -4 '$E2E_TMP/sse2' | tr '\n' '|' | grep -q '^retry: 2000|id: $NEWEST|: vsl events after $NEWEST||'"
check_not "  and none from before" \
  bash -c "grep '^data: ' '$E2E_TMP/sse2' | cut -c7- | jq -e 'select(.id <= $NEWEST)'"
check "a quiet stream sends heartbeats" grep -q '^: heartbeat' "$E2E_TMP/sse3"
# The server notices a client that went away within a poll interval.
for _ in $(seq 20); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -m 1 -H "Authorization: Bearer $TOKEN" "$VSL_API/v1/events/stream")
  [[ $code == 200 ]] && break
  sleep 0.2
done
check_eq "a slot is free again once its client went away" 200 "$code"

log "the console's files"
curl -s -D "$E2E_TMP/h5" -o "$E2E_TMP/index.html" "$VSL_API/ui/"
check "CSP: default-src 'self', no inline" grep -qi "^Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self';" "$E2E_TMP/h5"
check "X-Content-Type-Options: nosniff" grep -qi '^X-Content-Type-Options: nosniff' "$E2E_TMP/h5"
check "index.html is the console's (embedded: the same bytes as ui/index.html)" cmp "$E2E_TMP/index.html" "$ROOT/ui/index.html"
check_not "no inline script or style in any page" grep -qiE '<script>|<style|style=|onclick=' "$ROOT"/ui/*.html
check_eq "an unknown file is 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$VSL_API/ui/nope.js")"

log "the farm's hosts, image and raid=0+1 array"
check "mirror array" v array add mirror --driver file --path "$E2E_TMP/mirror" --capacity 1GiB --quality raid=0+1
for i in 1 2 3 4 5; do v host add "h$i" --hw x86-vm --initiator "iqn.2026-11.org.test:h$i" >/dev/null; done
head -c 1048576 /dev/urandom >"$E2E_TMP/demo.img"
check "image demo" v image import demo "$E2E_TMP/demo.img"

log "the console in headless Chromium"
cd "$HERE" || exit 1
check "console.test.cjs" env NODE_PATH="$NODE_DIR/node_modules" VSL_API="$VSL_API" VSL_TOKEN="$TOKEN" \
  UI_SHOTS="$SHOTS" EXAMPLE="$ROOT/examples/two-tier.fml" timeout 150 node "$HERE/console.test.cjs"
[[ $E2E_FAILURES == 0 ]] && sed 's/^/      | /' "$E2E_TMP/check.$E2E_CHECKS.out"

log "tenants: two tenants, a host whose hardware type holds HTML"
TA=$(v tenant add alpha --json | jq -r .token)
TB=$(v tenant add beta --json | jq -r .token)
check "two tenant tokens" grep -qxE '[0-9a-f]{64} [0-9a-f]{64}' <<<"$TA $TB"
# Names (farms, images, hosts, tenants) are 1-63 of A-Za-z0-9._- (util/names.h):
# none can hold HTML. Free text can: a host's hardware type, FML values.
check_fails "a tenant name with HTML in it is refused" v tenant add '<b>t</b>'
code=$(curl -s -o "$E2E_TMP/b6" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X POST "$VSL_API/v1/images" \
  -d '{"name":"<b>x</b>","file":"/nonexistent"}')
check_eq "an image name with HTML in it is refused (400)" 400 "$code"
check "  naming the image name" grep -q 'image name' "$E2E_TMP/b6"
EVIL_HW='<img src=x id=pwnhw onerror=window.pwned=1>'
check "host ta1 with hardware type $EVIL_HW" v host add ta1 --hw "$EVIL_HW" --initiator iqn.2026-11.org.test:ta1
check "alpha imports alphaimg with its token" env VSL_TOKEN="$TA" "$VSL" image import alphaimg "$E2E_TMP/demo.img"
HW_XML='&lt;img src=x id=pwnhw onerror=window.pwned=1&gt;'
alpha_fml() {
  cat <<EOF_FML
<?xml version="1.0"?>
<farm fmlversion="1.2">
  <subnet id="net" name="Alpha" ip="internal" mask="255.255.255.0" vlan="alpha-vlan" />
  <tier id="1" name="app">
    <interface name="eth0" subnet="net" />
    <role>app</role>
    <min-servers>1</min-servers>
    <max-servers>2</max-servers>
    <init-servers>1</init-servers>
  </tier>
  <server-role id="app" name="App server">
    <hw>$HW_XML</hw>
    <disk target="0" drivetype="scsi" drivesize="16MB">
      <diskimage type="system">alphaimg</diskimage>
      <attribute name="backup-policy" value="$1" />
    </disk>
  </server-role>
</farm>
EOF_FML
}
alpha_fml nightly >"$E2E_TMP/alpha-farm.fml"
alpha_fml '&lt;img src=x id=pwnfml onerror=window.pwned=2&gt;' >"$E2E_TMP/alpha-bad.fml"
check "tenants.test.cjs" env NODE_PATH="$NODE_DIR/node_modules" VSL_API="$VSL_API" VSL="$VSL" TOKEN_A="$TA" TOKEN_B="$TB" TOKEN_ADMIN="$TOKEN" \
  UI_SHOTS="$SHOTS" FML_GOOD="$E2E_TMP/alpha-farm.fml" FML_BAD="$E2E_TMP/alpha-bad.fml" EVIL_HW="$EVIL_HW" \
  IMAGE="$E2E_TMP/demo.img" timeout 120 node "$HERE/tenants.test.cjs"
[[ $E2E_FAILURES == 0 ]] && sed 's/^/      | /' "$E2E_TMP/check.$E2E_CHECKS.out"
check_eq "the admin sees alpha's farm" alpha-farm "$(ajson GET /v1/farms | jq -r '.farms[].name')"
check_eq "beta's token lists no farm" 0 "$(curl -s -H "Authorization: Bearer $TB" "$VSL_API/v1/farms" | jq '.farms | length')"
echo "screenshots in $SHOTS"
e2e_finish
