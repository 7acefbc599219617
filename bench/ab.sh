#!/usr/bin/env bash
# Two (or more) vsl builds, interleaved: for each round and each binary,
# `vsl gateway` on one disk-backed LUN (a 1 GiB file under /var/tmp, written
# once), then qemu-img bench's cases against it, printing IOPS and the
# gateway's CPU µs per I/O (/proc/PID/stat, as bench.sh does). Not a test.
#
# Usage: bench/ab.sh BIN_A BIN_B...
# A binary may carry gateway options for its runs: BIN,KEY=VALUE[,KEY=VALUE]
# (top-level keys of the gateway config, numbers: build/vsl,batch_pause_us=0).
# Environment: BENCH_ROUNDS (4), BENCH_COUNT_4K (200000), BENCH_CASES
# ("write4k read4k write4k_qd1 write1m read1m"; also write4k_qd8, read4k_qd8), BENCH_STAT=1: also
# `perf stat` of the gateway per case (task-clock, context switches and the
# system calls of the I/O path) into $BENCH_STAT_DIR (/tmp); BENCH_RECORD=1:
# `perf record -g` of the gateway per case into the same directory
# (ab.BIN.CASE.ROUND.data; read it with `perf report --no-children -i`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/tests/lib/common.sh"
source "$root/tests/lib/target.sh"
e2e_init 3000
[[ $# -ge 1 ]] || fail_now "usage: bench/ab.sh BIN_A [BIN_B...]"
ROUNDS=${BENCH_ROUNDS:-4}
C4K=${BENCH_COUNT_4K:-200000}
CASES=${BENCH_CASES:-write4k read4k write4k_qd1 write1m read1m}
STAT_DIR=${BENCH_STAT_DIR:-/tmp}
INI=iqn.2026-11.org.example:bench
SECRET=bench-secret-0123
DISK_DIR=$(mktemp -d /var/tmp/vsl-ab.XXXXXX)
e2e_on_exit "rm -rf '$DISK_DIR'"
file=$DISK_DIR/lun.img
dd if=/dev/zero of="$file" bs=1M count=1024 conv=fsync status=none
cat >"$E2E_TMP/farm.json" <<JSON
{ "iqn_prefix": "iqn.2026-11.org.vsl",
  "hosts": [ { "name": "bench", "initiator": "$INI",
               "chap": {"user": "bench", "secret": "$SECRET"},
               "luns": [ { "lun": 0, "extents": [ {"path": "$file", "offset": 0, "length": 1073741824} ] } ] } ] }
JSON

cpu_seconds() {
  python3 -c 'import os, sys
f = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
print((int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"))' "$1"
}

# qb NAME COUNT DEPTH SIZE [-w]: one qemu-img bench run; prints "IOPS us/IO".
qb() {
  local name=$1 count=$2 depth=$3 bs=$4 c0 c1 t spid=
  shift 4
  if [[ ${BENCH_STAT:-0} == 1 ]]; then
    perf stat -e 'task-clock,context-switches,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_writev,syscalls:sys_enter_pwrite64,syscalls:sys_enter_pwritev,syscalls:sys_enter_futex,syscalls:sys_enter_clock_nanosleep,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_write' \
      -p "$TARGET_PID" -o "$STAT_DIR/ab.$BIN_NAME.$name.$ROUND" &
    spid=$!
    sleep 0.5
  elif [[ ${BENCH_RECORD:-0} == 1 ]]; then
    perf record -g -q -p "$TARGET_PID" -o "$STAT_DIR/ab.$BIN_NAME.$name.$ROUND.data" 2>/dev/null &
    spid=$!
    sleep 0.5
  fi
  c0=$(cpu_seconds "$TARGET_PID")
  t=$(timeout 300 qemu-img bench \
        --image-opts "$(target_qemu_opts bench 0 "$INI" bench s | sed "s/password-secret=s/password=$SECRET/")" \
        -c "$count" -d "$depth" -s "$bs" -t none "$@" 2>&1 |
      sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p')
  c1=$(cpu_seconds "$TARGET_PID")
  if [[ -n $spid ]]; then
    kill -INT "$spid"
    wait "$spid" || true
  fi
  [[ -n $t ]] || { echo "- -"; return; }
  python3 -c 'import sys
c, t, cpu = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"{c / t:.0f} {cpu / c * 1e6:.2f}")' "$count" "$t" "$(python3 -c "print($c1 - $c0)")"
}

printf '%-5s %-24s %-12s %9s %8s\n' round binary case IOPS "us/IO"
for ROUND in $(seq "$ROUNDS"); do
  for spec in "$@"; do
    IFS=, read -r bin opts <<<"$spec"
    BIN_NAME=$(basename "$bin")${opts:+,$opts}
    cfg=$E2E_TMP/farm.json
    if [[ -n $opts ]]; then
      cfg=$E2E_TMP/farm.opts.json
      jq_args=()
      IFS=, read -ra kvs <<<"$opts"
      for kv in "${kvs[@]}"; do jq_args+=(--argjson "${kv%%=*}" "${kv#*=}"); done
      jq '. + $ARGS.named' "${jq_args[@]}" "$E2E_TMP/farm.json" >"$cfg"
    fi
    target_use_args "$bin" >/dev/null
    target_start "$cfg" >/dev/null
    for c in $CASES; do
      case $c in
        write4k) r=$(qb "$c" "$C4K" 32 4k -w) ;;
        read4k) r=$(qb "$c" "$C4K" 32 4k) ;;
        write4k_qd1) r=$(qb "$c" 20000 1 4k -w) ;;
        write4k_qd8) r=$(qb "$c" "$C4K" 8 4k -w) ;;
        read4k_qd8) r=$(qb "$c" "$C4K" 8 4k) ;;
        write1m) r=$(qb "$c" 3000 8 1M -w) ;;
        read1m) r=$(qb "$c" 3000 8 1M) ;;
        *) fail_now "unknown case '$c'" ;;
      esac
      read -r iops us <<<"$r"
      printf '%-5s %-24s %-12s %9s %8s\n' "$ROUND" "$BIN_NAME" "$c" "$iops" "$us"
    done
    target_stop || echo "    (vsl had to be killed)"
  done
done
