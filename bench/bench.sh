#!/usr/bin/env bash
# vsl gateway against tgt, same machine, same LUN: qemu-img bench (4 KiB
# read/write at queue depth 32, 1 MiB read/write at depth 8) on a 1 GiB
# file-backed LUN on disk and on one in /dev/shm, each figure with the ratio
# vsl/tgt, and the CPU time the target process spent per I/O; then the
# ceiling: vsl on a null LU (no file behind it) and iperf3 over loopback with
# as many streams as the initiator has connections. Not a test: it asserts
# nothing. See bench/README.md.
#
# Usage: bench/bench.sh [VSL_BIN]          (default: build/vsl)
# Environment: BENCH_SIZE (LUN size, 1G), BENCH_COUNT_4K (requests per 4 KiB
# run, 100000), BENCH_COUNT_1M (per 1 MiB run, 3000), BENCH_BACKINGS
# ("disk shm"), BENCH_TARGETS ("tgt vsl"), BENCH_NULL (1: also run vsl on a
# null LU), BENCH_IPERF_SECONDS (5), BENCH_IPERF_STREAMS (1: qemu-img bench
# opens one iSCSI connection), BENCH_CPUS ("T I": pin the target process to
# CPU T and qemu-img to CPU I; unset: no pinning).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/tests/lib/common.sh"
source "$root/tests/lib/target.sh"
e2e_init

VSL_BIN=${1:-${VSL_BIN:-$root/build/vsl}}
SIZE=${BENCH_SIZE:-1G}
C4K=${BENCH_COUNT_4K:-100000}
C1M=${BENCH_COUNT_1M:-3000}
BACKINGS=${BENCH_BACKINGS:-disk shm}
TARGETS=${BENCH_TARGETS:-tgt vsl}
read -r PIN_TARGET PIN_INITIATOR <<<"${BENCH_CPUS:-}" || true
# The initiator's command prefix: taskset when pinned.
pin_initiator() { if [[ -n $PIN_INITIATOR ]]; then echo taskset -c "$PIN_INITIATOR"; fi; }
# Pins every thread of the target process (threads it starts later inherit it).
pin_target() {
  [[ -n $PIN_TARGET ]] || return 0
  taskset -a -p -c "$PIN_TARGET" "$TARGET_PID" >/dev/null
}
INI=iqn.2026-11.org.example:bench
SECRET=bench-secret-0123

# Backing files: the disk one under /var/tmp (not a tmpfs here), the other in
# /dev/shm. Both filled with data so reads touch allocated blocks.
SHM_DIR=$(mktemp -d /dev/shm/vsl-bench.XXXXXX)
DISK_DIR=$(mktemp -d /var/tmp/vsl-bench.XXXXXX)
e2e_on_exit "rm -rf '$SHM_DIR' '$DISK_DIR'"
backing_path() { if [[ $1 == shm ]]; then echo "$SHM_DIR/lun.img"; else echo "$DISK_DIR/lun.img"; fi; }

# CPU seconds (user + system, all threads) process PID has used so far:
# fields 14 and 15 of /proc/PID/stat, in clock ticks.
cpu_seconds() {
  python3 -c 'import os, sys
f = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
print((int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"))' "$1"
}

# One qemu-img bench run against the target process TARGET_PID; prints
# "IOPS MB/s CPU-us-per-IO".
# qbench COUNT DEPTH SIZE [-w]
qbench() {
  local count=$1 depth=$2 bs=$3 t cpu0 cpu1
  shift 3
  cpu0=$(cpu_seconds "$TARGET_PID")
  # qemu-img bench has no --object, so the password goes in the options.
  t=$(timeout 300 $(pin_initiator) qemu-img bench \
        --image-opts "$(target_qemu_opts bench 0 "$INI" bench s | sed "s/password-secret=s/password=$SECRET/")" \
        -c "$count" -d "$depth" -s "$bs" -t none "$@" 2>&1 |
      sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p')
  cpu1=$(cpu_seconds "$TARGET_PID")
  [[ -n "$t" ]] || { echo "- - -"; return; }
  python3 -c 'import sys
c, bs, t, cpu = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print(f"{c / t:.0f} {c * bs / t / 1e6:.1f} {cpu / c * 1e6:.1f}")' \
    "$count" "$(numfmt --from=iec "${bs^^}")" "$t" "$(python3 -c "print($cpu1 - $cpu0)")"
}

CASES=("read 4k qd32|$C4K 32 4k" "write 4k qd32|$C4K 32 4k -w"
       "read 1M qd8|$C1M 8 1M" "write 1M qd8|$C1M 8 1M -w")
# farm_json EXTENT_JSON: the one-host, one-LUN configuration both targets get.
farm_json() {
  cat >"$E2E_TMP/farm.json" <<JSON
{ "iqn_prefix": "iqn.2026-11.org.vsl",
  "hosts": [ { "name": "bench", "initiator": "$INI",
               "chap": {"user": "bench", "secret": "$SECRET"},
               "luns": [ { "lun": 0, "extents": [ $1 ] } ] } ] }
JSON
}

# run_cases BACKING: every case against the target already started.
run_cases() {
  local c name a
  for c in "${CASES[@]}"; do
    name=${c%%|*}
    read -r -a a <<<"${c#*|}"
    RESULT[$1,$name,$E2E_TARGET]=$(qbench "${a[@]}")
    echo "    $E2E_TARGET $name: ${RESULT[$1,$name,$E2E_TARGET]} (IOPS MB/s CPU-us/IO)"
  done
}

declare -A RESULT
for backing in $BACKINGS; do
  file=$(backing_path "$backing")
  log "backing: $backing ($file, $SIZE)"
  dd if=/dev/zero of="$file" bs=1M count="$(($(numfmt --from=iec "${SIZE^^}") / 1048576))" \
    conv=fsync status=none
  farm_json "{\"path\": \"$file\", \"offset\": 0, \"length\": $(stat -c %s "$file")}"
  for E2E_TARGET in $TARGETS; do
    [[ $E2E_TARGET == vsl ]] && target_use_args "$VSL_BIN" >/dev/null
    target_start "$E2E_TMP/farm.json" >/dev/null
    pin_target
    run_cases "$backing"
    target_stop || echo "    ($E2E_TARGET had to be killed)"
  done
done

# The transport's ceiling on vsl itself: a null LU (writes discarded, reads
# return zeros, no file touched), so what is left is iSCSI over TCP.
if [[ ${BENCH_NULL:-1} == 1 ]]; then
  log "backing: null (vsl only, $SIZE)"
  farm_json "{\"null\": true, \"length\": $(numfmt --from=iec "${SIZE^^}")}"
  E2E_TARGET=vsl
  target_use_args "$VSL_BIN" >/dev/null
  target_start "$E2E_TMP/farm.json" >/dev/null
  pin_target
  run_cases null
  target_stop || echo "    (vsl had to be killed)"
fi

STREAMS=${BENCH_IPERF_STREAMS:-1}
log "iperf3 over loopback, $STREAMS stream(s) (the ceiling)"
port=$(free_port)
$(if [[ -n $PIN_TARGET ]]; then echo taskset -c "$PIN_TARGET"; fi) iperf3 -s -1 -B 127.0.0.1 -p "$port" >"$E2E_TMP/iperf3-server.log" 2>&1 &
ipid=$!
e2e_on_exit "stop_pid $ipid 2"
wait_port "$port" 10 "$ipid" || fail_now "iperf3 server did not start"
iperf=$(timeout 60 $(pin_initiator) iperf3 -c 127.0.0.1 -p "$port" -P "$STREAMS" -t "${BENCH_IPERF_SECONDS:-5}" -J |
  jq -r '.end.sum_received.bits_per_second / 8e6 | floor')

# ratio A B: A/B with two decimals, or "-".
ratio() {
  python3 -c 'import sys
try: print(f"{float(sys.argv[1]) / float(sys.argv[2]):.2f}")
except Exception: print("-")' "$1" "$2"
}

echo
printf '%-7s %-14s %9s %8s %7s %9s %8s %7s %8s %8s %8s\n' backing test "tgt IOPS" "tgt MB/s" \
  "tgt us" "vsl IOPS" "vsl MB/s" "vsl us" "IOPS v/t" "CPU v/t" "of iperf"
rows=$BACKINGS
[[ ${BENCH_NULL:-1} == 1 ]] && rows="$rows null"
for backing in $rows; do
  for c in "${CASES[@]}"; do
    name=${c%%|*}
    read -r ti tm tc <<<"${RESULT[$backing,$name,tgt]:-- - -}"
    read -r vi vm vc <<<"${RESULT[$backing,$name,vsl]:-- - -}"
    ofi=$(python3 -c 'import sys
try: print(f"{100 * float(sys.argv[1]) / float(sys.argv[2]):.0f}%")
except Exception: print("-")' "$vm" "$iperf")
    printf '%-7s %-14s %9s %8s %7s %9s %8s %7s %8s %8s %8s\n' "$backing" "$name" "$ti" "$tm" "$tc" \
      "$vi" "$vm" "$vc" "$(ratio "$vi" "$ti")" "$(ratio "$vc" "$tc")" "$ofi"
  done
done
echo "us: the target process's CPU time (user + system, all threads) per I/O, in microseconds"
echo "iperf3 loopback, $STREAMS stream(s) (qemu-img bench uses one iSCSI connection): $iperf MB/s"
