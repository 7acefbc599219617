#!/usr/bin/env bash
# The backup store's throughput next to a plain sequential copy of the same
# data on the same machine (issue 10): a 1 GiB file of random bytes (no
# holes, so every chunk is read, hashed and stored), then, ROUNDS times each:
#
#   vsl backup     vsl backup-store create (level 0: read, SHA-256 per 64 KiB
#                  chunk, write, fsync)
#   vsl level 1    vsl backup-store create --level 1 by checksum of the
#                  unchanged disk (reads and hashes it all, stores nothing)
#   vsl verify     vsl backup-store verify (reads and hashes the store)
#   vsl restore    vsl backup-store restore (reads and checks every extent,
#                  then reads, checks again and writes; fsync)
#   dd direct      dd bs=1M iflag=direct oflag=direct conv=fsync of the disk
#   qemu-img       qemu-img convert -f raw -O raw -t none -T none
#
# and prints each one's MiB/s (the median of ROUNDS) and the ratios of the
# store's backup and restore to dd's and qemu-img's copy. The page cache is
# not dropped: the file is written just before, so every reader starts warm
# (dd and qemu-img bypass it with O_DIRECT; the store reads through it). Not
# a test: it asserts nothing. See bench/README.md.
#
# Usage: bench/backup.sh [VSL_BIN]        (default: build/vsl)
# Environment: BENCH_BACKUP_SIZE (1G), BENCH_BACKUP_DIR (/var/tmp: the disk's
# file system), BENCH_BACKUP_ROUNDS (3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/tests/lib/common.sh"
export TMPDIR=${BENCH_BACKUP_DIR:-/var/tmp}
e2e_init 1200

VSL=${1:-$root/build/vsl}
SIZE=$(numfmt --from=iec "$(echo "${BENCH_BACKUP_SIZE:-1G}" | tr a-z A-Z)")
ROUNDS=${BENCH_BACKUP_ROUNDS:-3}
T=$E2E_TMP
DISK=$T/disk.img
MIB=$((SIZE / 1048576))

log "writing a $MIB MiB disk file of random bytes in $T"
head -c "$SIZE" /dev/urandom >"$DISK"
sync

declare -A SECS  # [case,round] = elapsed seconds

# timed CASE ROUND CMD...: runs CMD, records its wall time.
timed() {
  local name=$1 round=$2 start end
  shift 2
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  SECS[$name,$round]=$(echo "$end - $start" | bc -l)
}

CASES=("vsl backup" "vsl level 1" "vsl verify" "vsl restore" "dd direct" "qemu-img")
for ((r = 1; r <= ROUNDS; r++)); do
  log "round $r of $ROUNDS"
  rm -rf "$T/store" "$T/copy.img" "$T/restored.img"
  timed "vsl backup" "$r" "$VSL" backup-store create "$T/store" --disk-file "$DISK" --disk bench
  L0=$("$VSL" backup-store list "$T/store" --json | jq -r '.backups[0].id')
  timed "vsl level 1" "$r" "$VSL" backup-store create "$T/store" --disk-file "$DISK" --disk bench --level 1 --parent "$L0"
  timed "vsl verify" "$r" "$VSL" backup-store verify "$T/store" "$L0"
  timed "vsl restore" "$r" "$VSL" backup-store restore "$T/store" "$L0" "$T/restored.img"
  cmp -s <(head -c 1048576 "$T/restored.img") <(head -c 1048576 "$DISK") || fail_now "restored bytes differ"
  rm -f "$T/restored.img"
  timed "dd direct" "$r" dd if="$DISK" of="$T/copy.img" bs=1M iflag=direct oflag=direct conv=fsync status=none
  rm -f "$T/copy.img"
  timed "qemu-img" "$r" qemu-img convert -f raw -O raw -t none -T none "$DISK" "$T/copy.img"
  rm -f "$T/copy.img"
done

declare -A MIBS
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '\n%-12s %10s %10s   (%s MiB, median of %s rounds)\n' case "MiB/s" "seconds" "$MIB" "$ROUNDS"
for c in "${CASES[@]}"; do
  vals=()
  for ((r = 1; r <= ROUNDS; r++)); do vals+=("${SECS[$c,$r]}"); done
  s=$(median "${vals[@]}")
  MIBS[$c]=$(echo "$MIB / $s" | bc -l)
  printf '%-12s %10.0f %10.2f\n' "$c" "${MIBS[$c]}" "$s"
done
ratio() { printf '%-28s %6.2f\n' "$1 / $2" "$(echo "${MIBS[$1]} / ${MIBS[$2]}" | bc -l)"; }
echo
ratio "vsl backup" "dd direct"
ratio "vsl backup" "qemu-img"
ratio "vsl restore" "dd direct"
ratio "vsl restore" "qemu-img"
ratio "vsl level 1" "dd direct"
ratio "vsl verify" "dd direct"
