#!/usr/bin/env bash
# The gateway's read cache on an RBD LUN (issue 12): 4 KiB random reads
# (iscsi-perf -r, libiscsi's own tool, queue depth 32) over a working set
# that fits the cache (a 64 MiB image, written once all over), through
# `vsl gateway` serving the image as LUN 0, without the cache and with it
# (--cache 256MiB, the LUN's "cache": "read", warmed by one pass first).
# Rounds alternate the two; the table gives each one's median IOPS and the
# ratio. Not a test: it asserts nothing. See bench/README.md.
#
# Usage: bench/cache.sh [VSL_BIN]          (default: build/vsl)
# Environment: BENCH_CACHE_SECONDS (per run, 8), BENCH_CACHE_ROUNDS (3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/tests/lib/common.sh"
source "$root/tests/lib/ceph.sh"
e2e_init 600

VSL_BIN=${1:-${VSL_BIN:-$root/build/vsl}}
SECONDS_PER_RUN=${BENCH_CACHE_SECONDS:-8}
ROUNDS=${BENCH_CACHE_ROUNDS:-3}
SIZE=$((64 << 20))
IMG=bench
command -v iscsi-perf >/dev/null || fail_now "iscsi-perf is not installed (libiscsi-bin, scripts/deps.sh)"

CLUSTER=$E2E_TMP/ceph
e2e_on_exit "ceph_stop $CLUSTER"
log "starting a throw-away Ceph cluster in $CLUSTER"
ceph_start "$CLUSTER" >/dev/null || fail_now "the Ceph cluster did not start"
RBD=(rbd -c "$VSL_CEPH_CONF" -n "client.$VSL_CEPH_USER" -k "$VSL_CEPH_KEYRING" -p "$VSL_CEPH_POOL")
"${RBD[@]}" create --size 64M "$IMG"
timeout 120 "${RBD[@]}" bench --io-type write --io-size 4M --io-threads 8 --io-total "$SIZE" \
  --io-pattern seq "$IMG" >/dev/null

config() {  # config CACHE-POLICY
  jq -n --arg pool "$VSL_CEPH_POOL" --arg conf "$VSL_CEPH_CONF" --arg user "$VSL_CEPH_USER" \
    --arg keyring "$VSL_CEPH_KEYRING" --arg image "$IMG" --argjson len "$SIZE" --arg cache "$1" '
    {listen: "127.0.0.1:0", nop_interval: 0, hosts: [
      {name: "bench", initiator: "iqn.2026-11.org.example:bench", allow_no_auth: true,
       luns: [{lun: 0, cache: $cache,
               extents: [{rbd: {pool: $pool, image: $image, conf: $conf, user: $user, keyring: $keyring},
                          length: $len}]}]}]}'
}
config none >"$E2E_TMP/none.json"
config read >"$E2E_TMP/read.json"

# gw CONFIG ARGS...: starts vsl gateway; sets GW and PORTAL.
gw() {
  local conf=$1
  shift
  "$VSL_BIN" gateway --config "$conf" "$@" >"$E2E_TMP/gw.out" 2>"$E2E_TMP/gw.err" &
  GW=$!
  wait_for_file_line "$E2E_TMP/gw.out" '^vsl gateway: listening on ' 30 "$GW" ||
    fail_now "vsl gateway did not start: $(tail -5 "$E2E_TMP/gw.err")"
  PORTAL=$(sed -n 's/^vsl gateway: listening on //p' "$E2E_TMP/gw.out")
}
# perf SECONDS: iscsi-perf's 4 KiB random reads at QD32 for SECONDS; prints IOPS.
perf() {
  timeout $(($1 + 30)) iscsi-perf -i iqn.2026-11.org.example:bench -m 32 -b 8 -r -t "$1" \
    "iscsi://$PORTAL/iqn.2026-11.org.vsl:bench/0" 2>&1 | tee -a "$E2E_TMP/perf.log" |
    sed -n 's/.*[^0-9]\([0-9][0-9]*\) IOPS.*/\1/p' | tail -1
}

declare -a NONE READ
for ((round = 1; round <= ROUNDS; round++)); do
  gw "$E2E_TMP/none.json"
  NONE+=("$(perf "$SECONDS_PER_RUN")")
  stop_pid "$GW" 10
  gw "$E2E_TMP/read.json" --cache 256MiB
  perf 4 >/dev/null  # warm: the working set into the cache
  READ+=("$(perf "$SECONDS_PER_RUN")")
  stop_pid "$GW" 10
  log "round $round: without the cache ${NONE[-1]} IOPS, with it ${READ[-1]} IOPS"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
n=$(median "${NONE[@]}")
r=$(median "${READ[@]}")
echo
printf '%-40s %10s\n' "4 KiB random reads, QD32, 64 MiB RBD LU" "IOPS"
printf '%-40s %10s\n' "vsl gateway, no cache" "$n"
printf '%-40s %10s\n' "vsl gateway, --cache 256MiB (warm)" "$r"
printf '%-40s %10s\n' "ratio cache / no cache" "$(python3 -c "print(f'{$r / max($n, 1):.2f}')")"
