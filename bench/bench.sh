#!/usr/bin/env bash
# vsl gateway against tgt, same machine, same LUN: qemu-img bench (4 KiB
# read/write at queue depth 32, 1 MiB read/write at depth 8) on a 1 GiB
# file-backed LUN on disk and on one in /dev/shm, each figure with the ratio
# vsl/tgt; then iperf3 over loopback as the ceiling. Not a test: it asserts
# nothing. See bench/README.md.
#
# Usage: bench/bench.sh [VSL_BIN]          (default: build/vsl)
# Environment: BENCH_SIZE (LUN size, 1G), BENCH_COUNT_4K (requests per 4 KiB
# run, 100000), BENCH_COUNT_1M (per 1 MiB run, 3000), BENCH_BACKINGS
# ("disk shm"), BENCH_TARGETS ("tgt vsl"), BENCH_IPERF_SECONDS (5).
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
INI=iqn.2026-11.org.example:bench
SECRET=bench-secret-0123

# Backing files: the disk one under /var/tmp (not a tmpfs here), the other in
# /dev/shm. Both filled with data so reads touch allocated blocks.
SHM_DIR=$(mktemp -d /dev/shm/vsl-bench.XXXXXX)
DISK_DIR=$(mktemp -d /var/tmp/vsl-bench.XXXXXX)
e2e_on_exit "rm -rf '$SHM_DIR' '$DISK_DIR'"
backing_path() { if [[ $1 == shm ]]; then echo "$SHM_DIR/lun.img"; else echo "$DISK_DIR/lun.img"; fi; }

# One qemu-img bench run; prints "IOPS MB/s".
# qbench COUNT DEPTH SIZE [-w]
qbench() {
  local count=$1 depth=$2 bs=$3 t
  shift 3
  # qemu-img bench has no --object, so the password goes in the options.
  t=$(timeout 300 qemu-img bench \
        --image-opts "$(target_qemu_opts bench 0 "$INI" bench s | sed "s/password-secret=s/password=$SECRET/")" \
        -c "$count" -d "$depth" -s "$bs" -t none "$@" 2>&1 |
      sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p')
  [[ -n "$t" ]] || { echo "- -"; return; }
  python3 -c 'import sys
c, bs, t = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
print(f"{c / t:.0f} {c * bs / t / 1e6:.1f}")' "$count" "$(numfmt --from=iec "${bs^^}")" "$t"
}

CASES=("read 4k qd32|$C4K 32 4k" "write 4k qd32|$C4K 32 4k -w"
       "read 1M qd8|$C1M 8 1M" "write 1M qd8|$C1M 8 1M -w")
declare -A RESULT
for backing in $BACKINGS; do
  file=$(backing_path "$backing")
  log "backing: $backing ($file, $SIZE)"
  dd if=/dev/zero of="$file" bs=1M count="$(($(numfmt --from=iec "${SIZE^^}") / 1048576))" \
    conv=fsync status=none
  cat >"$E2E_TMP/farm.json" <<JSON
{ "iqn_prefix": "iqn.2026-11.org.vsl",
  "hosts": [ { "name": "bench", "initiator": "$INI",
               "chap": {"user": "bench", "secret": "$SECRET"},
               "luns": [ { "lun": 0, "extents": [
                 {"path": "$file", "offset": 0, "length": $(stat -c %s "$file")} ] } ] } ] }
JSON
  for E2E_TARGET in $TARGETS; do
    [[ $E2E_TARGET == vsl ]] && target_use_args "$VSL_BIN" >/dev/null
    target_start "$E2E_TMP/farm.json" >/dev/null
    for c in "${CASES[@]}"; do
      name=${c%%|*}
      read -r -a a <<<"${c#*|}"
      RESULT[$backing,$name,$E2E_TARGET]=$(qbench "${a[@]}")
      echo "    $E2E_TARGET $name: ${RESULT[$backing,$name,$E2E_TARGET]} (IOPS MB/s)"
    done
    target_stop || echo "    ($E2E_TARGET had to be killed)"
  done
done

log "iperf3 over loopback (the ceiling)"
port=$(free_port)
iperf3 -s -1 -B 127.0.0.1 -p "$port" >"$E2E_TMP/iperf3-server.log" 2>&1 &
ipid=$!
e2e_on_exit "stop_pid $ipid 2"
wait_port "$port" 10 "$ipid" || fail_now "iperf3 server did not start"
iperf=$(timeout 60 iperf3 -c 127.0.0.1 -p "$port" -t "${BENCH_IPERF_SECONDS:-5}" -J |
  jq -r '.end.sum_received.bits_per_second / 8e6 | floor')

echo
printf '%-5s %-14s %10s %9s %10s %9s %8s %8s\n' backing test "tgt IOPS" "tgt MB/s" \
  "vsl IOPS" "vsl MB/s" "vsl/tgt" "of iperf"
for backing in $BACKINGS; do
  for c in "${CASES[@]}"; do
    name=${c%%|*}
    read -r ti tm <<<"${RESULT[$backing,$name,tgt]:-- -}"
    read -r vi vm <<<"${RESULT[$backing,$name,vsl]:-- -}"
    ratio=$(python3 -c 'import sys
try: print(f"{float(sys.argv[1]) / float(sys.argv[2]):.2f}")
except Exception: print("-")' "$vi" "$ti")
    ofi=$(python3 -c 'import sys
try: print(f"{100 * float(sys.argv[1]) / float(sys.argv[2]):.0f}%")
except Exception: print("-")' "$vm" "$iperf")
    printf '%-7s %-14s %10s %9s %10s %9s %8s %8s\n' "$backing" "$name" "$ti" "$tm" "$vi" "$vm" "$ratio" "$ofi"
  done
done
echo "iperf3 loopback (1 stream): $iperf MB/s"
