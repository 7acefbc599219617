#!/usr/bin/env bash
# The gateway's read cache (issue 12, "The gateway's RAM cache") through the
# real binary and real initiators (libiscsi, tests/tools/iscsi_cache_check.c):
#   - bad input to `vsl disk cache` and POST /v1/disks/cache is refused,
#     naming the flag or field, and changes nothing
#   - two hosts write a shared disk (each its own blocks: WRITE(16), WRITE
#     SAME(16), UNMAP, COMPARE AND WRITE) while both read every block, every
#     block checksummed and sequence-numbered; a block older than what its
#     owner had acknowledged before the read began fails the run; the cache
#     hits meanwhile
#   - the same with the policy switched none/read again and again under load
#   - hits, misses and bytes read from the backend move exactly as they
#     should (a first read misses, a second hits, a write makes it miss,
#     policy none reads the backend and counts neither), in GET
#     /v1/volumes/ID, `vsl disk show` and /metrics
#   - the check catches a stale block: a serve whose writes leave the cache
#     alone (test hook VSL_TEST_CACHE_NO_INVALIDATE) fails it
#   - the policy survives a restart (the catalog's volumes.cache)
#   - vsl serve killed at op.cache.recorded (catalog written, gateway not
#     told), both ways: after the restart B is served with the catalog's
#     policy (hits move for read, stay 0 for none), the cut-short request
#     finishes, one more `vsl disk cache` converges
# Usage: cache.sh VSL   (API_CATALOG=sqlite|pg)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
api_suite "$1" 240
CHK=$E2E_TMP/iscsi_cache_check
gcc -O1 -o "$CHK" "$HERE/../tools/iscsi_cache_check.c" -liscsi || fail_now "cannot build tests/tools/iscsi_cache_check.c"
serve_start "$E2E_TMP/data" --cache 8MiB

S1=$(chap_secret h1)
S2=$(chap_secret h2)
chap_hosts h1 h2
two_units 16MiB
check "A bound to h1 at LUN 0" v disk bind "$A" --host h1 --lun 0
check "A bound to h2 at LUN 0 (shared)" v disk bind "$A" --host h2 --lun 0
check "B bound to h1 at LUN 1" v disk bind "$B" --host h1 --lun 1
check "A mapped" v disk map "$A"
check "B mapped" v disk map "$B"

url() { local s=$S1; [[ $1 == h2 ]] && s=$S2; echo "iscsi://$1%$s@$PORTAL/iqn.2026-11.org.vsl:$1/$2"; }
# chk HOST LUN MODE HOSTNO NHOSTS SHARED BLOCKS [SECONDS]
chk() { timeout 60 "$CHK" "iqn.2026-11.org.test:$1" "$(url "$1" "$2")" "$3" "$4" "$5" "$6" "$7" "${8:-10}"; }
stats() { ajson GET "/v1/volumes/$1" | jq -c .cache_stats; }
cstat() { ajson GET "/v1/volumes/$1" | jq -r ".cache_stats.$2"; }

log "bad input is refused, naming what was wrong, and changes nothing"
check_eq "a new disk's policy is none" none "$(ajson GET "/v1/volumes/$A" | jq -r .cache)"
check_fails "--policy sometimes (CLI)" v disk cache "$A" --policy sometimes
check "the CLI names the flag" bash -c "'$VSL' disk cache $A --policy sometimes 2>&1 | grep -q -- '--policy'"
check_fails "no --policy (CLI)" v disk cache "$A"
out=$(api POST "/v1/disks/cache?wait=true" "{\"volume\":$A,\"policy\":\"write\"}")
check_eq "API policy write: HTTP 400" 400 "$(tail -1 <<<"$out")"
check "the API names the field" grep -qF "field 'policy'" <<<"$(sed '$d' <<<"$out" | jq -r .error.message)"
out=$(api POST "/v1/disks/cache?wait=true" "{\"volume\":$A,\"policy\":\"read\",\"size\":3}")
check_eq "API unknown field: HTTP 400" 400 "$(tail -1 <<<"$out")"
check "the API names the unknown field" grep -qF "'size'" <<<"$(sed '$d' <<<"$out" | jq -r .error.message)"
out=$(api POST "/v1/disks/cache?wait=true" "{\"volume\":$A}")
check_eq "API without policy: HTTP 400" 400 "$(tail -1 <<<"$out")"
check_eq "A's policy is still none" none "$(ajson GET "/v1/volumes/$A" | jq -r .cache)"
check_eq "A is not cached in the gateway" false "$(cstat "$A" reads_cached)"

log "two hosts write their own blocks of shared disk A and read all of them, policy read"
check "vsl disk cache A --policy read" v disk cache "$A" --policy read
check_eq "the catalog has it" read "$(ajson GET "/v1/volumes/$A" | jq -r .cache)"
check_eq "the gateway has it" true "$(cstat "$A" reads_cached)"
SH=$E2E_TMP/shared.A
: >"$SH"
check "h1 fills its blocks" chk h1 0 fill 0 2 "$SH" 256
check "h2 fills its blocks" chk h2 0 fill 1 2 "$SH" 256
h0=$(cstat "$A" hits)
chk h1 0 mixed 0 2 "$SH" 256 10 >"$E2E_TMP/m1.out" 2>"$E2E_TMP/m1.err" &
P1=$!
chk h2 0 mixed 1 2 "$SH" 256 10 >"$E2E_TMP/m2.out" 2>"$E2E_TMP/m2.err" &
P2=$!
wait "$P1"
r1=$?
wait "$P2"
r2=$?
check_eq "h1: no stale or corrupt block ($(cat "$E2E_TMP/m1.out") $(head -3 "$E2E_TMP/m1.err"))" 0 "$r1"
check_eq "h2: no stale or corrupt block ($(cat "$E2E_TMP/m2.out") $(head -3 "$E2E_TMP/m2.err"))" 0 "$r2"
echo "h1: $(cat "$E2E_TMP/m1.out"); h2: $(cat "$E2E_TMP/m2.out"); A: $(stats "$A")"
check "both hosts wrote and read" grep -q 'writes=[1-9]' "$E2E_TMP/m1.out" "$E2E_TMP/m2.out"
check "the reads hit the cache meanwhile ($(cstat "$A" hits) > $h0)" test "$(cstat "$A" hits)" -gt "$h0"

log "the same while the policy is switched none/read every second"
chk h1 0 mixed 0 2 "$SH" 256 10 >"$E2E_TMP/t1.out" 2>"$E2E_TMP/t1.err" &
P1=$!
chk h2 0 mixed 1 2 "$SH" 256 10 >"$E2E_TMP/t2.out" 2>"$E2E_TMP/t2.err" &
P2=$!
switched=0
for i in $(seq 8); do
  p=none
  ((i % 2 == 0)) && p=read
  v disk cache "$A" --policy "$p" >/dev/null && switched=$((switched + 1))
  sleep 1
done
wait "$P1"
r1=$?
wait "$P2"
r2=$?
check_eq "h1: no stale or corrupt block across the switches ($(cat "$E2E_TMP/t1.out") $(head -3 "$E2E_TMP/t1.err"))" 0 "$r1"
check_eq "h2: no stale or corrupt block across the switches ($(cat "$E2E_TMP/t2.out") $(head -3 "$E2E_TMP/t2.err"))" 0 "$r2"
check_eq "eight switches went through" 8 "$switched"
check_eq "the policy is read after the last" true "$(cstat "$A" reads_cached)"

log "hits, misses and bytes from the backend on disk B (h1 alone, 64 blocks)"
SB=$E2E_TMP/shared.B
: >"$SB"
check "vsl disk cache B --policy read" v disk cache "$B" --policy read
check "h1 fills B" chk h1 1 fill 0 1 "$SB" 64
read -r h m b < <(ajson GET "/v1/volumes/$B" | jq -r '.cache_stats | "\(.hits) \(.misses) \(.backend_read_bytes)"')
check "h1 reads B (first time since the writes)" chk h1 1 readall 0 1 "$SB" 64
check_eq "64 misses" "$((m + 64))" "$(cstat "$B" misses)"
check_eq "no hit" "$h" "$(cstat "$B" hits)"
check_eq "256 KiB read from the backend" "$((b + 262144))" "$(cstat "$B" backend_read_bytes)"
check "h1 reads B again" chk h1 1 readall 0 1 "$SB" 64
check_eq "64 hits" "$((h + 64))" "$(cstat "$B" hits)"
check_eq "no new miss" "$((m + 64))" "$(cstat "$B" misses)"
check_eq "nothing more from the backend" "$((b + 262144))" "$(cstat "$B" backend_read_bytes)"
check "h1 rewrites B" chk h1 1 fill 0 1 "$SB" 64
check "h1 reads B after the writes" chk h1 1 readall 0 1 "$SB" 64
check_eq "the writes made all 64 miss" "$((m + 128))" "$(cstat "$B" misses)"
check "policy none on B" v disk cache "$B" --policy none
check "h1 reads B, policy none" chk h1 1 readall 0 1 "$SB" 64
check_eq "no hit counted" "$((h + 64))" "$(cstat "$B" hits)"
check_eq "no miss counted" "$((m + 128))" "$(cstat "$B" misses)"
check_eq "the backend read 256 KiB more" "$((b + 3 * 262144))" "$(cstat "$B" backend_read_bytes)"
check "vsl disk show prints the figures" \
  bash -c "'$VSL' disk show $B | grep -qx 'cache: reads not cached; $((h + 64)) hits, $((m + 128)) misses; $((b + 3 * 262144)) bytes read from the backend'"
check "vsl disk show prints the policy" bash -c "'$VSL' disk show $B | grep -qx 'cache policy: none'"
metrics=$(curl -s -H "Authorization: Bearer $(cat "$VSL_DATA/admin.token")" "$VSL_API/metrics")
check "/metrics has B's hits" grep -qx "vsl_volume_cache_hits_total{volume=\"$B\"} $((h + 64))" <<<"$metrics"
check "/metrics has B's misses" grep -qx "vsl_volume_cache_misses_total{volume=\"$B\"} $((m + 128))" <<<"$metrics"
check "/metrics has the cache's size" grep -qx "vsl_cache_capacity_bytes 8388608" <<<"$metrics"

log "the check catches a stale block: writes that leave the cache alone fail it"
serve_stop
VSL_TEST_CACHE_NO_INVALIDATE=1 serve_start "$E2E_TMP/data" --cache 8MiB
check_eq "A's policy came back from the catalog" true "$(cstat "$A" reads_cached)"
chk h1 0 mixed 0 2 "$SH" 256 6 >"$E2E_TMP/s1.out" 2>"$E2E_TMP/s1.err" &
P1=$!
chk h2 0 mixed 1 2 "$SH" 256 6 >"$E2E_TMP/s2.out" 2>"$E2E_TMP/s2.err" &
P2=$!
wait "$P1"
r1=$?
wait "$P2"
r2=$?
echo "without invalidation: h1 exit $r1 ($(cat "$E2E_TMP/s1.out")), h2 exit $r2 ($(cat "$E2E_TMP/s2.out"))"
head -2 "$E2E_TMP/s1.err" "$E2E_TMP/s2.err"
check "a stale block was caught (exit 10)" test "$r1" -eq 10 -o "$r2" -eq 10
check "the report names it" grep -q STALE "$E2E_TMP/s1.err" "$E2E_TMP/s2.err"
serve_stop
serve_start "$E2E_TMP/data" --cache 8MiB
# The stale run left the disk itself right: only the cache was wrong.
check "after a restart with invalidation, all of A reads right (h1)" chk h1 0 readall 0 2 "$SH" 256
check "and from h2" chk h2 0 readall 1 2 "$SH" 256

# killed_at_recorded POLICY: B's policy set to POLICY by a serve that dies at
# op.cache.recorded (the catalog written, the gateway not told); then a
# serve without crash points on the same data.
killed_at_recorded() {
  serve_kill9
  VSL_CRASH_AT=op.cache.recorded:1 serve_start "$E2E_TMP/data" --cache 8MiB
  check_fails "vsl disk cache B --policy $1: the serve dies at op.cache.recorded" v disk cache "$B" --policy "$1"
  for _ in $(seq 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
  check_not "the serve is gone" kill -0 "$SERVE_PID"
  wait "$SERVE_PID" 2>/dev/null
  check "it died at the crash point" grep -qF "vsl: crash point op.cache.recorded #1: SIGKILL" "$SERVE_LOG"
  serve_start "$E2E_TMP/data" --cache 8MiB
  check_eq "the catalog kept policy $1" "$1" "$(ajson GET "/v1/volumes/$B" | jq -r .cache)"
  req=$(ajson GET "/v1/requests?limit=100000" |
    jq -r --argjson b "$B" --arg p "$1" '[.requests[] | select(.op == "cache" and .args.volume == $b and .args.cache == $p)] | last | .id')
  check "the cut-short cache request finished after the restart" \
    bash -c "for i in \$(seq 100); do [[ \$('$VSL' queue show $req | jq -r .state) == done ]] && exit 0; sleep 0.1; done; exit 1"
}

log "vsl serve killed (SIGKILL) at op.cache.recorded setting B's policy to read: the restart serves B with it"
check_eq "B's policy is none" none "$(ajson GET "/v1/volumes/$B" | jq -r .cache)"
killed_at_recorded read
check_eq "the gateway reads B through the cache" true "$(cstat "$B" reads_cached)"
h=$(cstat "$B" hits)
check "h1 reads B" chk h1 1 readall 0 1 "$SB" 64
check "h1 reads B again" chk h1 1 readall 0 1 "$SB" 64
check "the hits counter moved ($(cstat "$B" hits) > $h)" test "$(cstat "$B" hits)" -gt "$h"
check "one more vsl disk cache B --policy read converges" v disk cache "$B" --policy read
check_eq "still read" "read true" "$(ajson GET "/v1/volumes/$B" | jq -r '"\(.cache) \(.cache_stats.reads_cached)"')"

log "the same setting B's policy back to none: after the restart no read is cached"
killed_at_recorded none
check_eq "the gateway reads B past the cache" false "$(cstat "$B" reads_cached)"
h=$(cstat "$B" hits)
check "h1 reads B" chk h1 1 readall 0 1 "$SB" 64
check "h1 reads B again" chk h1 1 readall 0 1 "$SB" 64
check_eq "no hit counted: the hits counter stays 0" "0 0" "$h $(cstat "$B" hits)"
check "one more vsl disk cache B --policy none converges" v disk cache "$B" --policy none
check_eq "still none" "none false" "$(ajson GET "/v1/volumes/$B" | jq -r '"\(.cache) \(.cache_stats.reads_cached)"')"
check "serve stops cleanly" serve_stop
e2e_finish
