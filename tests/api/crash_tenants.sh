#!/usr/bin/env bash
# kill -9 of `vsl serve` inside `vsl tenant add` and `vsl tenant remove`, at
# each crash point (docs/crash-points.md), then a restart on the same data
# and catalog:
#  - add killed before its commit (tenant.add.inserted): no tenant; one more
#    add makes it whole, its token works;
#  - add killed after its commit, before the reply (tenant.add.committed):
#    the tenant is whole but its token was never shown; one more add is
#    refused saying so and how to recover (remove, add again), which works;
#  - remove killed before its commit (tenant.remove.released): the tenant is
#    whole (its token still works); one more remove converges;
#  - remove killed after its commit (tenant.remove.committed): its token gets
#    401 and its console cookie too; one more remove says it does not exist.
# A console session signed in before a kill never outlives the restart.
#   crash_tenants.sh VSL   (API_CATALOG=sqlite|pg)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
api_suite "$1" 120 farm/crash_lib

DATA=$E2E_TMP/data
serve_up() { crash_serve "$DATA" "$1" || fail_now "vsl serve did not start: $(tail -5 "$SERVE_LOG")"; }
# tcode TOKEN PATH: the HTTP status of a GET with that bearer token.
tcode() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$VSL_API$2"; }
# ccode COOKIE PATH: the same with a console session cookie.
ccode() { curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $1" "$VSL_API$2"; }
# sign_in TOKEN: a console session's cookie (vsl_session=...).
sign_in() {
  curl -s -o /dev/null -D - -H 'Content-Type: application/json' -d "{\"token\":\"$1\"}" "$VSL_API/v1/session" |
    sed -nE 's/^Set-Cookie: (vsl_session=[0-9a-f]+);.*/\1/ip'
}
tenants() { tv tenant list --json | jq -r '[.tenants[].name] | join(" ")'; }
# killed AT CMD...: a serve armed at AT:1 dies under CMD, then one without
# crash points starts on the same data.
killed() {
  local at=$1
  shift
  serve_up "$at:1"
  check_fails "killed at $at: $* fails" tv "$@"
  check "vsl serve died at $at" crash_serve_died "$at" 1
  serve_up ""
}

serve_up ""
T0=$(tv tenant add keeper --json | jq -r .token)
[[ $T0 =~ ^[0-9a-f]{64}$ ]] || fail_now "tenant add keeper"
crash_serve_stop

log "add killed before its commit: no tenant; one more add makes it whole"
killed tenant.add.inserted tenant add t1
check_eq "t1 is absent" keeper "$(tenants)"
T1=$(tv tenant add t1 --json | jq -r .token)
check "one more add of t1 gives a token" grep -qxE '[0-9a-f]{64}' <<<"$T1"
check_eq "it authenticates" 200 "$(tcode "$T1" /v1/farms)"
crash_serve_stop

log "add killed after its commit, before the reply: whole, its token never shown"
killed tenant.add.committed tenant add t2
check_eq "t2 is listed" "keeper t1 t2" "$(tenants)"
out=$(tv tenant add t2 2>&1)
check "one more add of t2 is refused" test $? -ne 0
check "saying it exists" grep -qF "tenant 't2' exists already" <<<"$out"
check "and how to get a token again" grep -qF "vsl tenant remove t2" <<<"$out"
check "t2 is removed" tv tenant remove t2
T2=$(tv tenant add t2 --json | jq -r .token)
check "and added again, with a token" grep -qxE '[0-9a-f]{64}' <<<"$T2"
check_eq "which authenticates" 200 "$(tcode "$T2" /v1/farms)"
crash_serve_stop

log "remove killed before its commit: the tenant stays whole; one more remove converges"
serve_up "tenant.remove.released:1"
C1=$(sign_in "$T1")
check "t1 signed in to the console" test -n "$C1"
check_fails "killed at tenant.remove.released: tenant remove t1 fails" tv tenant remove t1
check "vsl serve died at tenant.remove.released" crash_serve_died tenant.remove.released 1
serve_up ""
check_eq "t1 is still listed" "keeper t1 t2" "$(tenants)"
check_eq "its token still authenticates" 200 "$(tcode "$T1" /v1/farms)"
check_eq "its console session did not outlive the restart" 401 "$(ccode "$C1" /v1/farms)"
C1=$(sign_in "$T1")
check "t1 signs in again" test -n "$C1"
check "one more remove of t1 succeeds" tv tenant remove t1
check_eq "then its token gets 401" 401 "$(tcode "$T1" /v1/farms)"
check_eq "and its cookie" 401 "$(ccode "$C1" /v1/farms)"
crash_serve_stop

log "remove killed after its commit: token and cookie never authenticate again"
serve_up "tenant.remove.committed:1"
C2=$(sign_in "$T2")
check_eq "t2's console session works before" 200 "$(ccode "$C2" /v1/farms)"
check_fails "killed at tenant.remove.committed: tenant remove t2 fails" tv tenant remove t2
check "vsl serve died at tenant.remove.committed" crash_serve_died tenant.remove.committed 1
serve_up ""
check_eq "t2 is gone" keeper "$(tenants)"
check_eq "its token gets 401" 401 "$(tcode "$T2" /v1/farms)"
check_eq "its cookie gets 401" 401 "$(ccode "$C2" /v1/farms)"
check_eq "it cannot sign in" "" "$(sign_in "$T2")"
out=$(tv tenant remove t2 2>&1)
check "one more remove of t2 fails" test $? -ne 0
check "saying it does not exist" grep -qF "tenant 't2' does not exist" <<<"$out"
check_eq "keeper's token works throughout" 200 "$(tcode "$T0" /v1/farms)"
check "serve stops" crash_serve_stop
e2e_finish
