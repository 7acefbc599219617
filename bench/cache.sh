#!/usr/bin/env bash
# The gateway's read cache on an RBD LUN (issue 12): 4 KiB reads at queue
# depth 32 scattered over a working set that fits the cache (a 64 MiB image,
# written once all over) by qemu-img bench over QEMU's iSCSI driver, through
# `vsl gateway` serving the image as LUN 0, without the cache and with it
# (--cache 256MiB, the LUN's "cache": "read", warmed by one pass first).
# Rounds alternate the two; the table gives each one's median IOPS and the
# ratio. Not a test: it asserts nothing. See bench/README.md.
#
# qemu-img bench has no random mode: as in bench/rbd.sh, each request
# strides 4 MiB + 4 KiB past the last (wrapping at the end), so requests in
# flight fall in different RBD objects and every 4 KiB block of the image is
# read once per 16384 requests. (iscsi-perf -r reads at any 512-byte LBA;
# the cache keeps whole aligned 4 KiB blocks only, docs/cache.md.)
#
# Usage: bench/cache.sh [VSL_BIN]          (default: build/vsl)
# Environment: BENCH_CACHE_COUNT (requests per run, 50000), BENCH_CACHE_ROUNDS (3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/tests/lib/common.sh"
source "$root/tests/lib/ceph.sh"
e2e_init 600

VSL_BIN=${1:-${VSL_BIN:-$root/build/vsl}}
ROUNDS=${BENCH_CACHE_ROUNDS:-3}
SIZE=$((64 << 20))
IMG=bench
command -v qemu-img >/dev/null || fail_now "qemu-img is not installed (scripts/deps.sh)"
COUNT=${BENCH_CACHE_COUNT:-50000}

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
  local conf=$1 out=$E2E_TMP/gw.$((++GWS))
  shift
  "$VSL_BIN" gateway --config "$conf" "$@" >"$out.out" 2>"$out.err" &
  GW=$!
  wait_for_file_line "$out.out" '^vsl gateway: listening on ' 30 "$GW" ||
    fail_now "vsl gateway did not start: $(tail -5 "$out.err")"
  PORTAL=$(sed -n 's/^vsl gateway: listening on //p' "$out.out")
}
# perf COUNT: COUNT 4 KiB reads at QD32; prints IOPS.
perf() {
  local t
  t=$(timeout 300 qemu-img bench -t none -n -d 32 -s 4096 -S $((4 * 1048576 + 4096)) -c "$1" --image-opts \
    "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:bench,lun=0,initiator-name=iqn.2026-11.org.example:bench" \
    2>&1 | sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p')
  [[ -n $t ]] || { echo 0; return; }
  python3 -c "print(round($1 / $t))"
}

GWS=0
declare -a NONE READ
for ((round = 1; round <= ROUNDS; round++)); do
  gw "$E2E_TMP/none.json"
  NONE+=("$(perf "$COUNT")")
  stop_pid "$GW" 10
  gw "$E2E_TMP/read.json" --cache 256MiB
  perf 16384 >/dev/null  # warm: every block of the working set into the cache
  READ+=("$(perf "$COUNT")")
  stop_pid "$GW" 10
  log "round $round: without the cache ${NONE[-1]} IOPS, with it ${READ[-1]} IOPS"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
n=$(median "${NONE[@]}")
r=$(median "${READ[@]}")
echo
printf "%-40s %10s\n" "4 KiB reads (strided), QD32, 64 MiB RBD" "IOPS"
printf '%-40s %10s\n' "vsl gateway, no cache" "$n"
printf '%-40s %10s\n' "vsl gateway, --cache 256MiB (warm)" "$r"
printf '%-40s %10s\n' "ratio cache / no cache" "$(python3 -c "print(f'{$r / max($n, 1):.2f}')")"
