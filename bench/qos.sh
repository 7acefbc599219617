#!/usr/bin/env bash
# What per-disk limits cost the gateway when they are set but not reached:
# qemu-img bench, 4 KiB reads and writes at queue depth 32 on one
# LU of `vsl gateway`, without limits and with limits far above the rate
# (iops=1000000000, mbps=1000000000: every command goes through the token
# buckets and none waits). Runs alternate (without, with, without, ...) so
# drift on a busy machine hits both alike; prints each run, the medians and
# the ratio with/without. Not a test: it asserts nothing. See bench/README.md.
#
# Usage: bench/qos.sh [VSL_BIN]          (default: build/vsl)
# Environment: BENCH_SIZE (LUN size, 256M), BENCH_COUNT_4K (requests per run,
# 100000), BENCH_ROUNDS (runs of each kind, 5), BENCH_BACKING (shm or null;
# shm: a file in /dev/shm)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/tests/lib/common.sh"
source "$root/tests/lib/target.sh"
e2e_init

VSL_BIN=${1:-${VSL_BIN:-$root/build/vsl}}
SIZE=${BENCH_SIZE:-256M}
COUNT=${BENCH_COUNT_4K:-100000}
ROUNDS=${BENCH_ROUNDS:-5}
BACKING=${BENCH_BACKING:-shm}
INI=iqn.2026-11.org.example:bench
SECRET=bench-secret-0123
bytes=$(numfmt --from=iec "${SIZE^^}")

if [[ $BACKING == shm ]]; then
  dir=$(mktemp -d /dev/shm/vsl-qos-bench.XXXXXX)
  e2e_on_exit "rm -rf '$dir'"
  # Written, so that reads touch allocated blocks.
  dd if=/dev/zero of="$dir/lun.img" bs=1M count="$((bytes / 1048576))" status=none
  extent="{\"path\": \"$dir/lun.img\", \"offset\": 0, \"length\": $bytes}"
else
  extent="{\"null\": true, \"length\": $bytes}"
fi

# config QOS_JSON: one host, one LUN, with "qos": QOS_JSON unless it is "".
config() {
  local qos=""
  [[ -n $1 ]] && qos="\"qos\": $1,"
  cat >"$E2E_TMP/farm.json" <<JSON
{ "iqn_prefix": "iqn.2026-11.org.vsl",
  "hosts": [ { "name": "bench", "initiator": "$INI",
               "chap": {"user": "bench", "secret": "$SECRET"},
               "luns": [ { "lun": 0, $qos "extents": [ $extent ] } ] } ] }
JSON
}

# run [-w]: IOPS of one qemu-img bench run.
run() {
  local t
  t=$(timeout 300 qemu-img bench \
        --image-opts "$(target_qemu_opts bench 0 "$INI" bench s | sed "s/password-secret=s/password=$SECRET/")" \
        -c "$COUNT" -d 32 -s 4k -t none "$@" 2>&1 |
      sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p')
  [[ -n $t ]] || { echo 0; return; }
  python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]):.0f}")' "$COUNT" "$t"
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

E2E_TARGET=vsl
target_use_args "$VSL_BIN" >/dev/null
declare -A R
LIMITS='{"iops": 1000000000, "mbps": 1000000000}'
for op in read write; do
  w=()
  [[ $op == write ]] && w=(-w)
  for ((i = 1; i <= ROUNDS; i++)); do
    for kind in none limits; do
      if [[ $kind == none ]]; then config ""; else config "$LIMITS"; fi
      target_start "$E2E_TMP/farm.json" >/dev/null
      iops=$(run "${w[@]}")
      target_stop >/dev/null || true
      R[$op,$kind]+="$iops "
      echo "    $op 4k qd32, $kind: $iops IOPS"
    done
  done
done

echo
printf '%-16s %12s %12s %8s\n' "4 KiB QD32" "no limits" "limits" "ratio"
for op in read write; do
  a=$(median <<<"${R[$op,none]}")
  b=$(median <<<"${R[$op,limits]}")
  printf '%-16s %12s %12s %8s\n' "$op ($BACKING)" "$a" "$b" \
    "$(python3 -c 'import sys; print(f"{float(sys.argv[2]) / float(sys.argv[1]):.3f}")' "$a" "$b")"
done
echo "medians of $ROUNDS runs of $COUNT requests each; limits: $LIMITS (set, never reached)"
# The per-command part alone, free of the network and the machine's noise.
lb=$(dirname "$VSL_BIN")/qos_limiter_bench
if [[ -x $lb ]]; then "$lb"; else echo "(build qos_limiter_bench for the per-command cost of the limiter alone)"; fi
