#!/usr/bin/env bash
# vsl's gateway on an RBD LUN against librbd itself, same machine, same image,
# same run (issue 9): a throw-away Ceph cluster (tests/lib/ceph.sh), one
# image, written once all over; then
#   rbd bench       librbd's own tool (4 KiB random at 32 threads, 1 MiB
#                   sequential at 8);
#   qemu-img rbd    qemu-img bench through QEMU's rbd driver: librbd in
#                   qemu-img's process, the same access pattern as the next
#                   (cache=writeback: librbd's cache on, as in the gateway,
#                   which leaves librbd's settings at their defaults but
#                   for the data path's few in docs/ceph.md);
#   qemu-img vsl    qemu-img bench through iSCSI to `vsl gateway`, which
#                   serves the image as LUN 0 through librbd in its process;
# and a table of IOPS and MiB/s with the ratios vsl / qemu-img rbd (what the
# gateway adds on the same pattern) and vsl / rbd bench, and the first of
# these per round (median, range). Not a test: it asserts nothing. See
# bench/README.md.
#
# qemu-img bench has no random mode: its "4k" cases stride through the image
# by 4 MiB + 4 KiB per request, so that the 32 requests in flight fall in 32
# different RBD objects, as random ones do (a plain sequential walk would put
# them all in one object, which the OSD serializes).
#
# With BENCH_RBD_CLIENT=blkbench the two middle columns use bench/blkbench.c
# instead of qemu-img bench: one small asynchronous loop, built here, on
# librbd ("blk rbd") or on libiscsi through the gateway ("blk vsl"), with the
# same requests. No block layer of a third program sits on either side.
#
# With BENCH_RBD_CPUS=split the cluster's daemons (every thread of ceph-mon
# and ceph-osd) run on the first half of the CPUs and everything else (rbd
# bench, qemu-img, the gateway) on the other half, as where Ceph runs on
# machines of its own: the hop's own CPU then no longer slows the OSD down.
# The client half is shared by the gateway and its initiator, by qemu-img
# and its librbd. The default, shared, lets the scheduler place everything.
#
# Usage: bench/rbd.sh [VSL_BIN]            (default: build/vsl)
# Environment: BENCH_RBD_SIZE (image size, 512M), BENCH_RBD_COUNT_4K (requests
# per 4 KiB run, 20000), BENCH_RBD_COUNT_1M (per 1 MiB run, 384),
# BENCH_RBD_ROUNDS (4, even so that each side goes first equally often: each
# figure is the median of this many runs), BENCH_RBD_CPUS (shared or split).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/tests/lib/common.sh"
source "$root/tests/lib/ceph.sh"
e2e_init 900

VSL_BIN=${1:-${VSL_BIN:-$root/build/vsl}}
SIZE=$(numfmt --from=iec "$(echo "${BENCH_RBD_SIZE:-512M}" | tr a-z A-Z)")
C4K=${BENCH_RBD_COUNT_4K:-20000}
C1M=${BENCH_RBD_COUNT_1M:-384}
ROUNDS=${BENCH_RBD_ROUNDS:-4}
STRIDE=$((4 * 1048576 + 4096))
CLIENT=${BENCH_RBD_CLIENT:-qemu-img}
case $CLIENT in
  qemu-img) TAG=qemu-img ;;
  blkbench)
    TAG=blk
    gcc -O2 -o "$E2E_TMP/blkbench" "$here/blkbench.c" -liscsi -lrbd -lrados -lpthread ||
      fail_now "bench/blkbench.c did not build (libiscsi-dev, librbd-dev)"
    ;;
  *) fail_now "BENCH_RBD_CLIENT is qemu-img or blkbench, not '$CLIENT'" ;;
esac
IMG=bench
CPUS=${BENCH_RBD_CPUS:-shared}
NCPU=$(nproc)
case $CPUS in
  shared) ;;
  split) ((NCPU >= 2)) || fail_now "BENCH_RBD_CPUS=split needs at least 2 CPUs, this machine has $NCPU" ;;
  *) fail_now "BENCH_RBD_CPUS is shared or split, not '$CPUS'" ;;
esac

CLUSTER=$E2E_TMP/ceph
e2e_on_exit "ceph_stop $CLUSTER"
log "starting a throw-away Ceph cluster in $CLUSTER"
ceph_start "$CLUSTER" >/dev/null || fail_now "the Ceph cluster did not start"
log "cluster up in ${VSL_CEPH_START_MS} ms"
RBD=(rbd -c "$VSL_CEPH_CONF" -n "client.$VSL_CEPH_USER" -k "$VSL_CEPH_KEYRING" -p "$VSL_CEPH_POOL")
"${RBD[@]}" create --size "$((SIZE / 1048576))M" "$IMG"
log "filling the $((SIZE / 1048576)) MiB image once (reads then touch existing objects)"
timeout 300 "${RBD[@]}" bench --io-type write --io-size 4M --io-threads 8 --io-total "$SIZE" \
  --io-pattern seq "$IMG" >/dev/null
if [[ $CPUS == split ]]; then
  CLUSTER_CPUS=0-$((NCPU / 2 - 1)) CLIENT_CPUS=$((NCPU / 2))-$((NCPU - 1))
  for d in mon osd; do
    taskset -a -cp "$CLUSTER_CPUS" "$(<"$CLUSTER/run/$d.pid")" >/dev/null ||
      fail_now "ceph-$d could not be moved to CPUs $CLUSTER_CPUS"
  done
  # This shell, and every process it starts from here on.
  taskset -cp "$CLIENT_CPUS" $$ >/dev/null || fail_now "the bench could not be moved to CPUs $CLIENT_CPUS"
  log "CPUs split: the cluster on $CLUSTER_CPUS, the clients and the gateway on $CLIENT_CPUS"
fi

# CASES: name | rbd bench args | qemu-img bench args
CASES=("read 4k qd32|--io-type read --io-size 4K --io-threads 32 --io-pattern rand --io-total $((C4K * 4096))|-c $C4K -d 32 -s 4k -S $STRIDE"
       "write 4k qd32|--io-type write --io-size 4K --io-threads 32 --io-pattern rand --io-total $((C4K * 4096))|-c $C4K -d 32 -s 4k -S $STRIDE -w"
       "read 1M qd8|--io-type read --io-size 1M --io-threads 8 --io-pattern seq --io-total $((C1M * 1048576))|-c $C1M -d 8 -s 1M"
       "write 1M qd8|--io-type write --io-size 1M --io-threads 8 --io-pattern seq --io-total $((C1M * 1048576))|-c $C1M -d 8 -s 1M -w")
declare -A RESULT  # [case,tool,round] = "IOPS MiB/s" (vsl: and the gateway's CPU us per I/O)

# rbd bench's last line: "elapsed: 5   ops: 20000   ops/sec: 3969.1   bytes/sec: 15 MiB/s"
rbd_bench() {
  local io_size=$1 ops
  shift
  ops=$(timeout 300 "${RBD[@]}" bench "$@" "$IMG" 2>&1 | sed -n 's/^elapsed:.*ops\/sec: *\([0-9.]*\).*/\1/p')
  [[ -n $ops ]] || { echo "- -"; return; }
  python3 -c 'import sys; o = float(sys.argv[1]); print(f"{o:.0f} {o * int(sys.argv[2]) / 1048576:.1f}")' "$ops" "$io_size"
}
# qemu_bench COUNT SIZE-BYTES CACHE ARGS...: one qemu-img bench run; prints
# "IOPS MiB/s CPU-us-per-IO" (qemu-img's own CPU time, user + system).
qemu_bench() {
  local count=$1 bs=$2 cache=$3 t
  shift 3
  t=$(timeout 300 /usr/bin/time -f '%U %S' -o "$E2E_TMP/qemu.cpu" qemu-img bench -t "$cache" "$@" 2>&1 |
    sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p')
  [[ -n $t ]] || { echo "- - -"; return; }
  python3 -c 'import sys; c, bs, t = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
cpu = sum(float(x) for x in open(sys.argv[4]).read().split()[-2:])
print(f"{c / t:.0f} {c * bs / t / 1048576:.1f} {cpu / c * 1e6:.0f}")' "$count" "$bs" "$t" "$E2E_TMP/qemu.cpu"
}
# blk_bench COUNT SIZE-BYTES rbd|iscsi ARGS...: one bench/blkbench.c run;
# prints "IOPS MiB/s CPU-us-per-IO" as qemu_bench does.
blk_bench() {
  local count=$1 bs=$2 out
  shift 2
  out=$(timeout 300 "$E2E_TMP/blkbench" "$@" 2>/dev/null | sed -n 's/^ops .* iops \([0-9.]*\) cpu-us-per-op \([0-9.]*\)$/\1 \2/p')
  [[ -n $out ]] || { echo "- - -"; return; }
  python3 -c 'import sys; o, us, bs = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"{o:.0f} {o * bs / 1048576:.1f} {us:.0f}")' $out "$bs"
}
case_bytes() { [[ $1 == *4k* ]] && echo 4096 || echo 1048576; }
case_count() { [[ $1 == *4k* ]] && echo "$C4K" || echo "$C1M"; }

QRBD="rbd:$VSL_CEPH_POOL/$IMG:id=$VSL_CEPH_USER:conf=$VSL_CEPH_CONF:keyring=$VSL_CEPH_KEYRING"
jq -n --arg pool "$VSL_CEPH_POOL" --arg conf "$VSL_CEPH_CONF" --arg user "$VSL_CEPH_USER" \
  --arg keyring "$VSL_CEPH_KEYRING" --arg image "$IMG" --argjson len "$SIZE" '
  {listen: "127.0.0.1:0", nop_interval: 0, hosts: [
    {name: "bench", initiator: "iqn.2026-11.org.example:bench", allow_no_auth: true,
     luns: [{lun: 0, extents: [{rbd: {pool: $pool, image: $image, conf: $conf, user: $user, keyring: $keyring},
                                length: $len}]}]}]}' >"$E2E_TMP/gw.json"

# "CPU-seconds context-switches" process PID has used so far: CPU time
# (user + system, all threads) and the context switches (voluntary and not)
# of its live threads (a thread hand-off in the I/O path shows as a sleep
# and a wake-up).
cpu_seconds() {
  python3 -c 'import glob, os, sys
f = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
cs = 0
for t in glob.glob(f"/proc/{sys.argv[1]}/task/*/status"):
    try: cs += sum(int(l.split()[1]) for l in open(t) if l.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")))
    except OSError: pass
print((int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"), cs)' "$1"
}

# qrbd NAME ROUND QARGS: qemu-img bench through QEMU's rbd driver.
qrbd() {
  if [[ $CLIENT == blkbench ]]; then
    RESULT[$1,qrbd,$2]=$(blk_bench "$(case_count "$1")" "$(case_bytes "$1")" rbd "$VSL_CEPH_CONF" \
      "client.$VSL_CEPH_USER" "$VSL_CEPH_KEYRING" "$VSL_CEPH_POOL" "$IMG" $3)
  else
    RESULT[$1,qrbd,$2]=$(qemu_bench "$(case_count "$1")" "$(case_bytes "$1")" writeback -f raw "$QRBD" $3)
  fi
  echo "    $1: $TAG rbd ${RESULT[$1,qrbd,$2]} (IOPS MiB/s CPU-us/IO)"
}
# qvsl NAME ROUND QARGS: qemu-img bench through a gateway started for this
# run alone (it holds the image's exclusive lock, which the librbd runs
# need). Each gateway has files of its own: gateway_up redirects its output
# in the background, and with a reused name could read an earlier
# gateway's "listening on" line (a dead port) before the shell truncated it.
GATEWAYS=0
qvsl() {
  GATEWAYS=$((GATEWAYS + 1))
  gateway_up "$VSL_BIN" "$E2E_TMP/gw.json" "gw$GATEWAYS"
  local q="driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:bench,lun=0,initiator-name=iqn.2026-11.org.example:bench"
  local r us cpu0 cpu1 cs0 cs1
  read -r cpu0 cs0 < <(cpu_seconds "$GW")
  if [[ $CLIENT == blkbench ]]; then
    r=$(blk_bench "$(case_count "$1")" "$(case_bytes "$1")" iscsi "iscsi://$PORTAL/iqn.2026-11.org.vsl:bench/0" \
      iqn.2026-11.org.example:bench $3)
  else
    r=$(qemu_bench "$(case_count "$1")" "$(case_bytes "$1")" none --image-opts "$q" $3)
  fi
  read -r cpu1 cs1 < <(cpu_seconds "$GW")
  us=$(python3 -c 'import sys; a, b, c0, c1, n = map(float, sys.argv[1:])
print(f"{(b - a) / n * 1e6:.0f} {(c1 - c0) / n:.2f}")' "$cpu0" "$cpu1" "$cs0" "$cs1" "$(case_count "$1")")
  RESULT[$1,vsl,$2]="$r $us"
  echo "    $1: $TAG vsl ${RESULT[$1,vsl,$2]} (IOPS MiB/s $TAG-CPU-us/IO gateway-CPU-us/IO gateway-context-switches/IO)"
  stop_pid "$GW" 10 || echo "    (vsl gateway had to be killed)"
  grep -a 'vsl gateway: rbd: ' "$E2E_TMP/gw$GATEWAYS.err" | sed 's/^/    /' || true
}

# Rounds: per case, rbd bench, then qemu-img on librbd and qemu-img through
# the gateway back to back, in turn first (odd rounds: librbd first; even
# rounds: the gateway first). Each run thus follows one of the same case,
# alike for both sides: what a run leaves the OSD to do afterwards (flushes
# of small writes, compaction) slows whichever run comes next (before,
# qemu-img rbd's 4 KiB writes followed rbd bench's, the gateway's its own
# reads). A burst of other load on the machine hits both columns alike. The
# table gives each cell's median over the rounds.
for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round of $ROUNDS: per case rbd bench, then $TAG on librbd and through the vsl gateway ($VSL_BIN, LUN 0), $( ((round % 2)) && echo "librbd first" || echo "gateway first")"
  for c in "${CASES[@]}"; do
    IFS='|' read -r name rargs qargs <<<"$c"
    RESULT[$name,rbd,$round]=$(rbd_bench "$(case_bytes "$name")" $rargs)
    echo "    $name: rbd bench ${RESULT[$name,rbd,$round]} (IOPS MiB/s)"
    if ((round % 2)); then
      qrbd "$name" "$round" "$qargs"
      qvsl "$name" "$round" "$qargs"
    else
      qvsl "$name" "$round" "$qargs"
      qrbd "$name" "$round" "$qargs"
    fi
  done
done

# rounds_of CELL FIELD: field FIELD (1-based) of RESULT[CELL,round], a line
# per round.
rounds_of() {
  local r
  for ((r = 1; r <= ROUNDS; r++)); do awk -v f="$2" '{print $f}' <<<"${RESULT[$1,$r]}"; done
}

# median CELL FIELD: the median over the rounds of field FIELD of
# RESULT[CELL,round]; MiB/s (field 2) with a decimal.
median() {
  # shellcheck disable=SC2046  # one word per round; a missing one drops out
  python3 -c 'import statistics, sys
v = [float(x) for x in sys.argv[2:] if x != "-"]
d = {"2": 1, "5": 2}.get(sys.argv[1], 0)
print(f"{statistics.median(v):.{d}f}" if v else "-")' "$2" $(rounds_of "$1" "$2")
}

# paired NAME: vsl/qrbd per round (the two runs of a round were back to
# back, so a slow spell of the machine hits both): "median min-max" over
# the rounds. On a shared machine the spread says how far one table's
# ratio can be trusted.
paired() {
  # shellcheck disable=SC2046
  python3 -c 'import statistics, sys
v = []
for x in sys.argv[1:]:
    try: v.append(float(x.split("/")[0]) / float(x.split("/")[1]))
    except (ValueError, ZeroDivisionError): pass
print(f"{statistics.median(v):.2f} {min(v):.2f}-{max(v):.2f}" if v else "- -")' \
    $(paste -d/ <(rounds_of "$1,vsl" 1) <(rounds_of "$1,qrbd" 1))
}

ratio() {
  python3 -c 'import sys
try: print(f"{float(sys.argv[1]) / float(sys.argv[2]):.2f}")
except Exception: print("-")' "$1" "$2"
}
echo
printf '%-14s %15s %21s %33s %8s %8s %16s\n' "" "rbd bench" "$TAG rbd" "$TAG vsl" "" "" "paired vsl/qrbd"
printf '%-14s %7s %7s %7s %7s %5s %7s %7s %5s %5s %5s %8s %8s %6s %9s\n' test IOPS MiB/s IOPS MiB/s us IOPS MiB/s us "gw us" "gw cs" vsl/qrbd vsl/rbd median range
for c in "${CASES[@]}"; do
  name=${c%%|*}
  ri=$(median "$name,rbd" 1) rm=$(median "$name,rbd" 2)
  qi=$(median "$name,qrbd" 1) qm=$(median "$name,qrbd" 2) qc=$(median "$name,qrbd" 3)
  vi=$(median "$name,vsl" 1) vm=$(median "$name,vsl" 2) vc=$(median "$name,vsl" 3) gc=$(median "$name,vsl" 4)
  gs=$(median "$name,vsl" 5)
  read -r pm pr <<<"$(paired "$name")"
  printf '%-14s %7s %7s %7s %7s %5s %7s %7s %5s %5s %5s %8s %8s %6s %9s\n' "$name" "$ri" "$rm" "$qi" "$qm" "$qc" "$vi" "$vm" \
    "$vc" "$gc" "$gs" "$(ratio "$vi" "$qi")" "$(ratio "$vi" "$ri")" "$pm" "$pr"
done
echo "medians of $ROUNDS rounds. 4k: rbd bench random; $TAG strides by 4 MiB + 4 KiB (32 requests"
echo "in 32 objects). 1M: sequential. us: $TAG's CPU time per I/O; gw us: the gateway process's (all"
echo "threads); gw cs: its context switches per I/O (live threads). image $((SIZE / 1048576)) MiB on one OSD"
layout=$CPUS
[[ $CPUS == split ]] && layout="split (cluster on $CLUSTER_CPUS, clients and gateway on $CLIENT_CPUS)"
echo "(BlueStore on a file), pool size 1; gateway defaults. CPUs: $layout."
echo "paired: vsl/qrbd of each round (its two runs back to back), median and range over the rounds."
