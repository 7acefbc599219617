#!/usr/bin/env bash
# kill -9 of `vsl serve` in the middle of 50 queued requests, then restart:
# every request ends done or failed, none is lost, no volume is in two
# places (two units, or two requests' results), and the catalog agrees with
# the requests' results. Usage: crash.sh VSL   (API_CATALOG=sqlite|pg)
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 300
catalog_init
# One worker, so that the queue is still long when the process dies. Leases
# far longer than the test: a request the kill interrupts must be queued
# again at restart because its process is dead, not because time passed.
export SERVE_LEASE_MS=300000
serve_start "$E2E_TMP/data" --workers 1

N=50
# A fault-injecting array (vsl serve --test-faults): the worker is stalled
# inside the first queued allocation below, so the kill lands in the middle
# of a request with the rest of the queue waiting, however fast requests run.
check "array k1 added (64 volumes of 1 MiB)" v array add k1 --driver fault:file --path "$E2E_TMP/k1" \
  --capacity 64MiB --volume-size 1MiB --quality tier=k
check "host hk added" v host add hk --hw std --initiator iqn.2026-11.org.test:hk
head -c $((512 << 10)) /dev/urandom >"$E2E_TMP/img.raw"
check "image imported" v image import img "$E2E_TMP/img.raw"
# Ten units already mapped, to be taken apart by the queue below.
for i in $(seq 10); do
  u=$(v disk allocate --size 1MiB --quality tier=k --unit --json | jq -r .result.volume)
  v disk bind "$u" --host hk --lun "$i" >/dev/null && v disk map "$u" >/dev/null || fail_now "setting up unit $i"
  MAPPED+=("$u")
done
FIRST=$(ajson GET '/v1/requests?limit=100000' | jq '[.requests[].id] | max')

log "queue $N requests, then kill -9"
token=$(cat "$VSL_DATA/admin.token")
check "stall the next stat of k1 (make-meta of the first allocation)" \
  curl -sf -X POST -H "Authorization: Bearer $token" -d '{"array":"k1","op":"stat","stall":true}' \
  "$VSL_API/v1/test/faults" -o /dev/null
submit() {  # OP JSON
  curl -sf -X POST -H "Authorization: Bearer $token" --data-binary "$2" "$VSL_API/v1/disks/$1" >/dev/null
}
# Three waves, each sent at once (parallel curl): the unmaps, then the
# allocations, then the unbinds; the one worker takes them in id order, so
# each unit's unmap comes before its unbind.
wave() {  # OP BODY...
  local op=$1 b
  shift
  for b in "$@"; do { submit "$op" "$b" || echo "submit $op failed"; } & done
  wait
}
{
  wave unmap $(for u in "${MAPPED[@]}"; do echo "{\"volume\":$u}"; done)
  wave allocate-unit $(for i in $(seq 30); do echo '{"size":1048576,"qualities":{"tier":"k"}}'; done)
  wave unbind $(for u in "${MAPPED[@]}"; do echo "{\"volume\":$u}"; done)
} 2>&1 | grep -v '^$' >"$E2E_TMP/submit.log"
running() { [[ $(ajson GET '/v1/requests?state=running' | jq '[.requests[] | select(.op == "allocate-unit")] | length') == 1 ]]; }
for ((i = 0; i < 300; i++)); do running && break; sleep 0.1; done
check "the worker is held inside an allocation" running
serve_kill9
check_eq "every request was accepted" "" "$(cat "$E2E_TMP/submit.log")"

log "restart"
RESTART_MS=$(($(date +%s%3N)))
serve_start "$E2E_TMP/data" --workers 1
for ((i = 0; i < 600; i++)); do
  pending=$(ajson GET "/v1/requests?after=$FIRST&limit=100000" | jq '[.requests[] | select(.state == "queued" or .state == "running")] | length')
  [[ $pending == 0 ]] && break
  sleep 0.1
done
ajson GET "/v1/requests?after=$FIRST&limit=100000" >"$E2E_TMP/reqs.json"
check_eq "no request is lost: $N after the restart" $N "$(jq '.requests | length' "$E2E_TMP/reqs.json")"
check_eq "every request ended done or failed" 0 \
  "$(jq '[.requests[] | select(.state != "done" and .state != "failed")] | length' "$E2E_TMP/reqs.json")"
check "the kill came in the middle: some requests finished after the restart" \
  test "$(jq "[.requests[] | select(.finished_ms >= $RESTART_MS)] | length" "$E2E_TMP/reqs.json")" -gt 0
log "$(jq "[.requests[] | select(.finished_ms >= $RESTART_MS)] | length" "$E2E_TMP/reqs.json") of $N requests finished after the restart; taken over (attempts > 1): $(jq '[.requests[] | select(.attempts > 1)] | length' "$E2E_TMP/reqs.json")"

taken=$(jq '[.requests[] | select(.attempts > 1)] | length' "$E2E_TMP/reqs.json")
if [[ $taken -gt 0 ]]; then
  check "the restart knew its predecessor on this data directory died" \
    grep -q "earlier process(es) of this data directory died; their requests are taken over" "$SERVE_LOG"
  check_eq "the interrupted request was taken over as its process died, not when its lease expired" 1 \
    "$(ajson GET "/v1/events?entity=request&limit=100000" | jq '[.events[] | select(.detail | test("is dead; taken over"))] | length')"
fi
ajson GET '/v1/volumes?array=k1' >"$E2E_TMP/vols.json"
UNITS=$(jq -r '[.requests[] | select(.op == "allocate-unit" and .state == "done") | .result.volume] | .[]' "$E2E_TMP/reqs.json")
check_eq "no two allocations got the same volume" "$(sort <<<"$UNITS" | uniq | wc -l)" "$(wc -l <<<"$UNITS")"
for u in $UNITS; do
  [[ $(jq -r ".volumes[] | select(.id == $u) | .state" "$E2E_TMP/vols.json") == configured ]] || echo "unit $u"
done >"$E2E_TMP/bad_units"
check_eq "every allocated unit is configured" "" "$(cat "$E2E_TMP/bad_units")"
# Each volume of k1 is free, one of the done allocations, or one of the ten
# units set up before; nothing else holds one (no leak, no double use).
expected=$(( $(wc -w <<<"$UNITS") + 10 ))
check_eq "exactly the allocated and pre-mapped units are in use" "$expected" \
  "$(jq '[.volumes[] | select(.state != "free")] | length' "$E2E_TMP/vols.json")"
for u in "${MAPPED[@]}"; do
  st=$(jq -r ".volumes[] | select(.id == $u) | .state" "$E2E_TMP/vols.json")
  [[ $st == unbound ]] || echo "unit $u is $st"
done >"$E2E_TMP/bad_mapped"
check_eq "the ten pre-mapped units are unmapped and unbound" "" "$(cat "$E2E_TMP/bad_mapped")"
check_eq "hk has no bindings left" 0 "$(ajson GET /v1/hosts/hk | jq '.bindings | length')"
check_eq "no volume is bound twice" 0 \
  "$(ajson GET '/v1/volumes?array=k1' | jq '[.volumes[] | select(.state == "mapped" or .state == "bound")] | length')"
check "vsl serve stops cleanly" serve_stop
e2e_finish
