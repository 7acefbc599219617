#!/usr/bin/env bash
# Two `vsl serve` processes on the same state.
#  SQLite: a second serve on a data directory another serve holds exits
#    non-zero at once, saying which directory and which process holds it, and
#    the first one keeps serving.
#  PostgreSQL: two serves (their own data directories and ports) on one
#    catalog are asked to apply the same farm while the first one's apply is
#    held inside a step: the second never runs a step meanwhile (it fails
#    with "busy", or waits and then has nothing to do), and the farm ends
#    ready with each disk made once.
#   two_serves.sh VSL   (API_CATALOG=sqlite|pg)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
api_suite "$1" 240 farm/crash_lib

# serve2 DATA: a second serve, not the one crash_lib.sh tracks; sets
# S2_PID, S2_LOG, S2_API.
serve2() {
  local cat=()
  [[ -n $CATALOG_URL ]] && cat=(--catalog "$CATALOG_URL")
  S2_LOG=$E2E_TMP/serve2.log
  "$VSL" serve --config '' --data "$1" --api 127.0.0.1:0 --iscsi 127.0.0.1:0 --power none --test-faults "${cat[@]}" \
    >"$S2_LOG" 2>&1 &
  S2_PID=$!
  e2e_on_exit '[[ -n $S2_PID ]] && kill -9 $S2_PID'
}
s2_wait_api() {
  local i
  for ((i = 0; i < 1500; i++)); do
    grep -qs '^vsl serve: iSCSI on' "$S2_LOG" && break
    alive "$S2_PID" || return 1
    sleep 0.02
  done
  S2_API=http://127.0.0.1:$(sed -n 's|^vsl serve: API on http://127.0.0.1:\([0-9]*\)$|\1|p' "$S2_LOG")
  [[ $S2_API != "http://127.0.0.1:" ]]
}

if [[ $API_CATALOG == sqlite ]]; then
  DATA=$E2E_TMP/data
  crash_serve "$DATA" "" || fail_now "vsl serve did not start: $(tail -5 "$SERVE_LOG")"
  FIRST=$CRASH_SERVE_PID
  log "a second vsl serve on $DATA (held by pid $FIRST)"
  serve2 "$DATA"
  for ((i = 0; i < 100; i++)); do
    alive "$S2_PID" || break
    sleep 0.1
  done
  if alive "$S2_PID"; then
    rc=running
    kill -9 "$S2_PID"
  fi
  wait "$S2_PID" 2>/dev/null
  st=$?
  [[ ${rc:-} == running ]] || rc=$st
  S2_PID=""
  log "second serve: exit ${rc}; it said: $(grep -v '^20..-..-..T' "$S2_LOG" | head -3 | tr '\n' ' ')"
  check "the second serve exits within 10 s" test "$rc" != running
  check "and its exit status is not 0" test "$rc" != running -a "$rc" != 0
  check "its error names the data directory and the process holding it (pid $FIRST)" \
    bash -c "grep -F '$(realpath "$DATA")' '$S2_LOG' | grep -qw '$FIRST'"
  check "the first serve still answers" tv host list
  check "the first serve stops cleanly" crash_serve_stop
  e2e_finish
  exit
fi

# ---- PostgreSQL: one farm, two serves ----
D1=$E2E_TMP/data1
D2=$E2E_TMP/data2
crash_serve "$D1" "" || fail_now "vsl serve 1 did not start: $(tail -5 "$SERVE_LOG")"
API1=$VSL_API
for h in h1 h2 h3; do
  v host add "$h" --hw x86-vm --initiator "iqn.2026-11.org.example:$h" --chap-secret "secret-of-$h-0123" >/dev/null ||
    fail_now "host add $h"
done
head -c $((1 << 20)) /dev/urandom >"$E2E_TMP/img.raw"
v image import img "$E2E_TMP/img.raw" >/dev/null || fail_now "image import"
# The boot disks ask for raid=0+1: they land on this fault-injecting array,
# whose copies can be held (stalled) to keep an apply inside a step.
v array add slow --driver fault:file --path "$E2E_TMP/slow" --capacity 256MiB --quality raid=0+1 >/dev/null ||
  fail_now "array add slow"
# Serve 2 starts after the arrays exist (it opens those the catalog lists).
serve2 "$D2"
s2_wait_api || fail_now "vsl serve 2 did not start: $(tail -5 "$S2_LOG")"
log "serve 1 at $API1, serve 2 at $S2_API, one catalog"

FML=$E2E_TMP/two.fml
three_server_farm two "$FML" '<attribute name="raid-level" value="0+1" />'

faults() {  # API DATA BODY (each serve has the token of its data directory)
  curl -sf -X POST -H "Authorization: Bearer $(cat "$2/admin.token")" -d "$3" "$1/v1/test/faults" >/dev/null
}
# Either process's workers may run the copy: hold it in both.
faults "$API1" "$D1" '{"array":"slow","op":"copy","stall":true}' || fail_now "arming the stall on serve 1"
faults "$S2_API" "$D2" '{"array":"slow","op":"copy","stall":true}' || fail_now "arming the stall on serve 2"

VSL_API=$API1 timeout 120 "$VSL" farm apply "$FML" >"$E2E_TMP/a1.out" 2>&1 &
A1=$!
for ((i = 0; i < 300; i++)); do
  [[ $(ajson GET '/v1/requests?state=running' | jq '[.requests[] | select(.op == "copy")] | length') -ge 1 ]] && break
  sleep 0.1
done
check "serve 1's apply is held inside its first copy" \
  test "$(ajson GET '/v1/requests?state=running' | jq '[.requests[] | select(.op == "copy")] | length')" -ge 1

HELD=$(ajson GET '/v1/requests?limit=100000' | jq '[.requests[].id] | max')

log "the same apply through serve 2, while serve 1's is held"
VSL_API=$S2_API VSL_DATA=$D2 timeout 120 "$VSL" farm apply "$FML" >"$E2E_TMP/a2.out" 2>&1 &
A2=$!
# Give serve 2 time to start steps if it is going to (it must not): every
# step is a request in the one queue.
for ((i = 0; i < 30; i++)); do
  alive "$A2" || break
  sleep 0.1
done
check_eq "serve 2 started no step while serve 1's apply was inside one (no new request)" "" \
  "$(ajson GET "/v1/requests?after=$HELD&limit=100000" | jq -r '.requests[] | "request \(.id) \(.op) \(.args | tostring)"')"

faults "$API1" "$D1" '{"array":"slow","op":"copy","heal":true}'
faults "$S2_API" "$D2" '{"array":"slow","op":"copy","heal":true}'
wait "$A1"
rc1=$?
wait "$A2"
rc2=$?
log "apply through serve 1: exit $rc1, $(grep -c '^\[' "$E2E_TMP/a1.out") step lines; through serve 2: exit $rc2, $(grep -c '^\[' "$E2E_TMP/a2.out") step lines"
check_eq "the apply through serve 1 completes" 0 "$rc1"
if [[ $rc2 != 0 ]]; then
  check "the apply through serve 2 was refused as busy" grep -qi busy "$E2E_TMP/a2.out"
else
  check_eq "the apply through serve 2 waited and had nothing left to do" "" \
    "$(grep -E '^\[[0-9]+/[0-9]+\]' "$E2E_TMP/a2.out")"
fi
check "the farm is ready (serve 1)" bash -c "VSL_API=$API1 '$VSL' farm show two | grep -q '^farm two: ready$'"
check "the farm is ready (serve 2)" bash -c "VSL_API=$S2_API VSL_DATA=$D2 '$VSL' farm show two | grep -q '^farm two: ready$'"
check "and complete" bash -c "VSL_API=$API1 '$VSL' farm plan '$FML' | grep -q 'No changes'"
check_eq "each disk was made once: 7 units and the image master in use" 8 \
  "$(tv volume list --all --json | jq '[.volumes[] | select(.parent_id == null and .state != "free")] | length')"
check_eq "and all 7 units are mapped" 7 \
  "$(tv volume list --all --json | jq '[.volumes[] | select(.parent_id == null and .state == "mapped")] | length')"
check_eq "the three hosts are in the farm" "in-farm in-farm in-farm" \
  "$(tv host list --json | jq -r '[.hosts[].state] | join(" ")')"
kill -TERM "$S2_PID"
for ((i = 0; i < 200; i++)); do
  alive "$S2_PID" || break
  sleep 0.1
done
alive "$S2_PID" && kill -9 "$S2_PID"
wait "$S2_PID"
check_eq "serve 2 stops cleanly" 0 "$?"
S2_PID=""
check "serve 1 stops cleanly" crash_serve_stop
e2e_finish
