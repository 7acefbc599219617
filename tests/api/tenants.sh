#!/usr/bin/env bash
# Tenants through the real binary: `vsl tenant add` prints a token once and
# the catalog keeps only its SHA-256 (as serve keeps only the admin token's);
# two tenants import an image and apply a farm each with their own tokens;
# each lists only its own farms, hosts, volumes, images (plus the shared
# one), backups and requests, and the admin sees both; a farm naming another
# tenant's image is refused at its <diskimage>, another tenant's farm name
# is refused as taken; then tenant A walks EVERY route of docs/openapi.yaml
# (tests/api/tools/tenant_walk.py) naming B's farm, host, image, volumes,
# backup, requests and job, and every answer is 403, 404 or free of B's
# data; B's things are all still there afterwards; `vsl tenant remove`
# is refused while the tenant owns a farm (naming it) and, once it is gone,
# the removed tenant's token gets 401.
# Usage: tenants.sh VSL   (API_CATALOG=sqlite|pg)
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 200
catalog_init
DATA=$E2E_TMP/data
serve_start "$DATA" --backup-dir "$E2E_TMP/store"

# tapi TOKEN METHOD PATH [BODY]: like api, with another token.
tapi() {
  curl -s -X "$2" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    ${4:+--data-binary "$4"} -w '\n%{http_code}\n' "$VSL_API$3"
}
tjson() { tapi "$@" | sed '$d'; }
code() { tapi "$@" | tail -1; }

# catalog_dump: every row of the catalog, as text.
catalog_dump() {
  if [[ $API_CATALOG == pg ]]; then
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    "$bin/pg_dump" -h "$PG_DIR" -U postgres --data-only vsl
  else
    python3 -c 'import sqlite3, sys; print("\n".join(sqlite3.connect(sys.argv[1]).iterdump()))' "$DATA/catalog.db"
  fi
}

log "the admin token: serve keeps its SHA-256"
check_eq "admin.token.sha256 is the token's SHA-256" "$(tr -d '\n' <"$DATA/admin.token" | sha256sum | cut -d' ' -f1)" \
  "$(cat "$DATA/admin.token.sha256")"

log "tenants added; each token is printed once"
out=$(v tenant add alice) || fail_now "tenant add alice: $out"
TA=$(tail -1 <<<"$out")
TB=$(v tenant add bob --json | jq -r .token)
check "alice's token is 64 hex characters" grep -qxE '[0-9a-f]{64}' <<<"$TA"
check "bob's token is 64 hex characters" grep -qxE '[0-9a-f]{64}' <<<"$TB"
check_fails "a second tenant alice is refused" v tenant add alice
check_eq "tenant list shows both" "alice bob" "$(v tenant list --json | jq -r '[.tenants[].name] | join(" ")')"
check_eq "the list shows no token" "0" "$(v tenant list --json | grep -c -e "$TA" -e "$TB")"
dump=$(catalog_dump)
check "the catalog holds alice's token hash" grep -qF "$(printf %s "$TA" | sha256sum | cut -d' ' -f1)" <<<"$dump"
check_not "the catalog does not hold alice's token" grep -qF "$TA" <<<"$dump"
check_not "the catalog does not hold bob's token" grep -qF "$TB" <<<"$dump"
check_eq "a made-up token gets 401" 401 "$(code 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef GET /v1/farms)"

log "the admin's pool and shared image; each tenant's image"
BSEC=bobs-chap-secret-0123
PSEC=pool-chap-secret-0123
check "host alicehost1 added" v host add alicehost1 --hw hw-a --initiator iqn.2026-11.org.test:a1
check "host bobhost1 added" v host add bobhost1 --hw hw-b --initiator iqn.2026-11.org.test:b1 --chap-secret "$BSEC"
check "host poolhost added" v host add poolhost --hw hw-c --initiator iqn.2026-11.org.test:p1 --chap-secret "$PSEC"
head -c 1048576 /dev/urandom >"$E2E_TMP/img.raw"
check "shared image imported by the admin" v image import shared "$E2E_TMP/img.raw"
check "alice imports aliceimage with her token" env VSL_TOKEN="$TA" "$VSL" image import aliceimage "$E2E_TMP/img.raw"
check "bob imports bobimage with his token" env VSL_TOKEN="$TB" "$VSL" image import bobimage "$E2E_TMP/img.raw"
check_eq "alice sees her image and the shared one" "aliceimage shared" \
  "$(tjson "$TA" GET /v1/images | jq -r '[.images[].name] | sort | join(" ")')"
check_eq "bob sees his and the shared one" "bobimage shared" \
  "$(tjson "$TB" GET /v1/images | jq -r '[.images[].name] | sort | join(" ")')"
check_eq "the admin sees all three" "aliceimage bobimage shared" \
  "$(ajson GET /v1/images | jq -r '[.images[].name] | sort | join(" ")')"
check "the admin's queue shows where bob's upload was staged" \
  grep -q '"file": *"[^"]*/uploads/' <<<"$(ajson GET /v1/requests?op=import-image)"
check_eq "bob's own queue does not (the server's paths are the admin's)" 0 \
  "$(tjson "$TB" GET /v1/requests | grep -c '/uploads/')"
check_eq "nor his events" 0 "$(tjson "$TB" GET /v1/events | grep -c '/uploads/')"
check_eq "a tenant may not import from the server's import directory (403)" 403 \
  "$(code "$TB" POST /v1/images '{"name":"bobdir","file":"img.raw"}')"
check_eq "alice cannot remove the shared image (403)" 403 "$(code "$TA" DELETE /v1/images/shared)"
check_eq "alice cannot see bob's image (404)" 404 "$(code "$TA" GET /v1/images/bobimage)"

farm() {  # farm NAME HW IMAGE
  jq -n --arg f "<?xml version=\"1.0\"?>
<farm fmlversion=\"1.2\" name=\"$1\">
  <tier id=\"1\" name=\"app\"><role>app</role><min-servers>1</min-servers><max-servers>1</max-servers><init-servers>1</init-servers></tier>
  <server-role id=\"app\" name=\"App server\">
    <hw>$2</hw>
    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"4MiB\">
      <diskimage type=\"system\">$3</diskimage>
    </disk>
  </server-role>
</farm>" '{fml: $f}'
}

log "a tenant's FML may not name another tenant's image, nor take another's farm name"
out=$(tapi "$TA" POST /v1/farms/plan "$(farm alicefarm hw-a bobimage)")
check_eq "plan naming bob's image: 404" 404 "$(tail -1 <<<"$out")"
check "the message points at the <diskimage>" grep -qE 'farm.fml:[0-9]+:[0-9]+: <diskimage>' <<<"$out"

log "each tenant applies a farm"
out=$(tapi "$TA" POST /v1/farms/apply?wait=true "$(farm alicefarm hw-a shared)")
check_eq "alice's apply succeeded" "200 done" "$(tail -1 <<<"$out") $(sed '$d' <<<"$out" | jq -r .state)"
out=$(tapi "$TB" POST /v1/farms/apply?wait=true "$(farm bobfarm hw-b bobimage)")
check_eq "bob's apply succeeded" "200 done" "$(tail -1 <<<"$out") $(sed '$d' <<<"$out" | jq -r .state)"
BJOB=$(sed '$d' <<<"$out" | jq -r .job)
out=$(tapi "$TA" POST /v1/farms/apply?wait=true "$(farm bobfarm hw-a shared)")
check_eq "alice applying the name bobfarm: 409" 409 "$(tail -1 <<<"$out")"
check "it says the name is taken" grep -qF "farm name 'bobfarm' is taken" <<<"$out"
check_eq "alice lists only alicefarm" "alicefarm" "$(tjson "$TA" GET /v1/farms | jq -r '[.farms[].name] | join(" ")')"
check_eq "bob lists only bobfarm" "bobfarm" "$(tjson "$TB" GET /v1/farms | jq -r '[.farms[].name] | join(" ")')"
check_eq "the admin lists both" "alicefarm bobfarm" "$(ajson GET /v1/farms | jq -r '[.farms[].name] | sort | join(" ")')"
check_eq "vsl farm list with alice's token: alicefarm" "alicefarm" \
  "$(VSL_TOKEN=$TA "$VSL" farm list --json | jq -r '[.farms[].name] | join(" ")')"
check_eq "alice's hosts: her farm's only" "alicehost1" \
  "$(tjson "$TA" GET /v1/hosts | jq -r '[.hosts[].name] | join(" ")')"
check_eq "and not its BMC settings" "null" "$(tjson "$TA" GET /v1/hosts/alicehost1 | jq -c .bmc_address)"
check_eq "the admin sees the whole pool" "alicehost1 bobhost1 poolhost" \
  "$(ajson GET /v1/hosts | jq -r '[.hosts[].name] | sort | join(" ")')"
BFARM_ID=$(ajson GET /v1/farms/bobfarm | jq -r .farm_id)
AFARM_ID=$(ajson GET /v1/farms/alicefarm | jq -r .farm_id)
BVOLS=$(tjson "$TB" GET /v1/volumes | jq -c '[.volumes[].id]')
AVOLS=$(tjson "$TA" GET /v1/volumes | jq -c '[.volumes[].id]')
check "bob sees his farm's volumes" test "$(jq length <<<"$BVOLS")" -gt 0
check "alice sees her farm's volumes" test "$(jq length <<<"$AVOLS")" -gt 0
check_eq "no volume is in both lists" "[]" "$(jq -nc --argjson a "$AVOLS" --argjson b "$BVOLS" '$a - ($a - $b)')"
BVOL=$(tjson "$TB" GET /v1/bindings?host=bobhost1 | jq -r '.bindings[0].volume_id')
check "bob's disk is bound to bobhost1" test "$BVOL" -gt 0

log "bob backs up his disk"
out=$(tapi "$TB" POST /v1/backups?wait=true "{\"volume\":$BVOL,\"level\":0}")
check_eq "bob's backup ran" 200 "$(tail -1 <<<"$out")"
BBACKUP=$(sed '$d' <<<"$out" | jq -r .result.backup)
check_eq "bob lists it" "$BBACKUP" "$(tjson "$TB" GET /v1/backups | jq -r '.backups[0].id')"
check_eq "alice lists no backup" 0 "$(tjson "$TA" GET /v1/backups | jq '.backups | length')"
BREQS=$(tjson "$TB" GET /v1/requests | jq -c '[.requests[].id]')
check "bob sees requests of his farm" test "$(jq length <<<"$BREQS")" -gt 0
check_eq "alice sees none of them" "[]" \
  "$(tjson "$TA" GET /v1/requests | jq -c --argjson b "$BREQS" '[.requests[].id] - ([.requests[].id] - $b)')"
check "bob sees events of his disk" test "$(tjson "$TB" GET "/v1/events?entity=volume&entity_id=$BVOL" | jq '.events | length')" -gt 0

out=$(curl -s -X PUT -H "Authorization: Bearer $TB" --data-binary @"$E2E_TMP/img.raw" -w '\n%{http_code}\n' \
  "$VSL_API/v1/images/shared")
check_eq "bob uploading an image named shared: 409" 409 "$(tail -1 <<<"$out")"
check_eq "saying only that the name is taken" "image 'shared' exists already" \
  "$(sed '$d' <<<"$out" | jq -r .error.message)"

log "alice walks every route of docs/openapi.yaml naming bob's things"
jq -n --arg farm bobfarm --argjson farm_id "$BFARM_ID" --arg host bobhost1 --arg image bobimage \
  --arg backup "$BBACKUP" --argjson job "$BJOB" --argjson volumes "$BVOLS" --argjson requests "$BREQS" \
  --arg tenant bob --argjson own "$AFARM_ID" --arg bsec "$BSEC" --arg psec "$PSEC" \
  '{farm: $farm, farm_id: $farm_id, host: $host, image: $image, backup: $backup, job: $job, volumes: $volumes,
    requests: $requests, tenant: $tenant, own_farm_id: $own,
    markers: ["bob", "poolhost", $bsec, $psec, $backup]}' >"$E2E_TMP/other.json"
python3 "$HERE/tools/tenant_walk.py" "$ROOT/docs/openapi.yaml" "$VSL_API" "$TA" "$E2E_TMP/other.json" "$ROOT/src" \
  >"$E2E_TMP/walk.out" 2>&1
rc=$?
cat "$E2E_TMP/walk.out"
check_eq "every call of the walk passed" 0 "$rc"
check "every route the code serves is in openapi.yaml (so the walk called it)" \
  grep -qE '^[0-9]+ routes served, 0 not documented' "$E2E_TMP/walk.out"
check "the walk made at least one call per route (41+)" \
  test "$(tail -1 "$E2E_TMP/walk.out" | cut -d' ' -f1)" -ge 41
check "the walk saw 403 on an admin-only route" grep -qE '^ok   POST +/v1/arrays -> 403' "$E2E_TMP/walk.out"
check "and 404 on bob's farm" grep -qE '^ok   GET +/v1/farms/bobfarm -> 404' "$E2E_TMP/walk.out"
check "the event stream was read from its first event, with nothing of bob's" \
  grep -qE '^ok   GET +/v1/events/stream\?after=0 -> 200' "$E2E_TMP/walk.out"

log "alice walks them again signed in to the console (a session cookie, not the token)"
python3 "$HERE/tools/tenant_walk.py" --cookie "$ROOT/docs/openapi.yaml" "$VSL_API" "$TA" "$E2E_TMP/other.json" \
  >"$E2E_TMP/walk-cookie.out" 2>&1
rc=$?
cat "$E2E_TMP/walk-cookie.out"
check_eq "every call of the cookie walk passed" 0 "$rc"
check "it signed in first" grep -q '^signed in: a session cookie' "$E2E_TMP/walk-cookie.out"
check "the session is alice's: 403 on an admin-only route" grep -qE '^ok   POST +/v1/arrays -> 403' "$E2E_TMP/walk-cookie.out"
check "and 404 on bob's farm" grep -qE '^ok   GET +/v1/farms/bobfarm -> 404' "$E2E_TMP/walk-cookie.out"

log "bob's things are all still there"
check_eq "bob's farm is ready" ready "$(tjson "$TB" GET /v1/farms/bobfarm | jq -r .state)"
check_eq "bob's image is there" bobimage "$(tjson "$TB" GET /v1/images/bobimage | jq -r .name)"
check_eq "bob's backup is there" "$BBACKUP" "$(tjson "$TB" GET "/v1/backups/$BBACKUP" | jq -r .id)"
check_eq "bob's disk is still bound and mapped" true "$(tjson "$TB" GET /v1/bindings?host=bobhost1 | jq -r '.bindings[0].mapped')"
check_eq "the admin still sees everything" "alicefarm bobfarm" "$(ajson GET /v1/farms | jq -r '[.farms[].name] | sort | join(" ")')"
check_eq "the admin still gets /metrics" 200 "$(api GET /metrics | tail -1)"

log "removing a tenant"
out=$(v tenant remove bob 2>&1)
check "removing bob while he owns bobfarm is refused" test $? -ne 0
check "naming the farm" grep -qF "bobfarm" <<<"$out"
check_eq "bob destroys his farm" 200 "$(code "$TB" DELETE /v1/farms/bobfarm?wait=true)"
out=$(v tenant remove bob 2>&1)
check "removing bob while he owns bobimage is refused" test $? -ne 0
check "naming the image" grep -qF "bobimage" <<<"$out"
check_eq "bob removes his image" 200 "$(code "$TB" DELETE /v1/images/bobimage?wait=true)"
BCOOKIE=$(curl -s -o /dev/null -D - -H 'Content-Type: application/json' -d "{\"token\":\"$TB\"}" \
  "$VSL_API/v1/session" | sed -nE 's/^Set-Cookie: (vsl_session=[0-9a-f]+);.*/\1/ip')
check_eq "bob signs in to the console before he goes" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $BCOOKIE" "$VSL_API/v1/farms")"
check "now bob is removed" v tenant remove bob
check_eq "bob's console session ends with him" 401 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $BCOOKIE" "$VSL_API/v1/farms")"
check_eq "bob's token gets 401" 401 "$(code "$TB" GET /v1/farms)"
check_eq "on every route, e.g. images" 401 "$(code "$TB" GET /v1/images)"
check_eq "alice still works" alicefarm "$(tjson "$TA" GET /v1/farms | jq -r '.farms[0].name')"
check_eq "the tenant list is alice alone" alice "$(v tenant list --json | jq -r '[.tenants[].name] | join(" ")')"

log "a new tenant may take the destroyed farm's name; it is then its own"
TC=$(v tenant add carol --json | jq -r .token)
out=$(tapi "$TC" POST /v1/farms/apply?wait=true "$(farm bobfarm hw-b shared)")
check_eq "carol applies bobfarm" "200 done" "$(tail -1 <<<"$out") $(sed '$d' <<<"$out" | jq -r .state)"
check_eq "carol lists it" bobfarm "$(tjson "$TC" GET /v1/farms | jq -r '[.farms[].name] | join(" ")')"
check_eq "alice does not" alicefarm "$(tjson "$TA" GET /v1/farms | jq -r '[.farms[].name] | join(" ")')"

check "serve stops" serve_stop
log "after a restart without admin.token, the hash alone lets the admin in"
TOKEN=$(cat "$DATA/admin.token")
mv "$DATA/admin.token" "$E2E_TMP/admin.token.kept"
serve_start "$DATA" --backup-dir "$E2E_TMP/store"
check_eq "the admin's token still works" 200 "$(code "$TOKEN" GET /v1/tenants)"
check_eq "alice's too" 200 "$(code "$TA" GET /v1/farms)"
check "serve stops again" serve_stop
e2e_finish
