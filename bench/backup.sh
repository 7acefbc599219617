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
# Then the host's side: a `vsl serve --backup-dir` whose host h1 has a disk
# of the same size (filled with the same bytes) mapped, and qemu-img bench
# (4 KiB writes at queue depth 16, 1 MiB apart, so each lands in a 64 KiB
# chunk of its own: the worst case for the copy-on-write view, every write
# first preserving a chunk the backup has not read yet) run over and over
# against the mapped LU, once while a level 0 of the disk runs and once
# for as long without one; prints both rates and their ratio.
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

log "host I/O during a backup next to without one"
rm -rf "$T/store"
source "$root/tests/api/lib.sh"
serve_start "$T/data" --backup-dir "$T/store"
SEC=0123456789abcdef-h1
# qemu-img bench takes no --image-opts: the iscsi:// URL, and the initiator
# name qemu uses by default.
"$VSL" host add h1 --hw std --initiator iqn.2008-11.org.linux-kvm --chap-secret "$SEC" >/dev/null
D=$("$VSL" disk allocate --size "$SIZE" --unit --json | jq -r .result.volume)
"$VSL" disk bind "$D" --host h1 --lun 0 >/dev/null
"$VSL" disk map "$D" >/dev/null
URL="iscsi://h1%$SEC@$PORTAL/iqn.2026-11.org.vsl:h1/0"
qemu-img convert -n -f raw -O raw "$DISK" "$URL"
# load SECONDS|until-idle: qemu-img bench runs back to back; prints "ops seconds".
BENCH_OPS=4000
load() {
  local start end ops=0
  start=$(date +%s.%N)
  while :; do
    qemu-img bench -f raw -w -c "$BENCH_OPS" -d 16 -s 4096 -S 1048576 "$URL" >/dev/null
    ops=$((ops + BENCH_OPS))
    end=$(date +%s.%N)
    if [[ $1 == until-idle ]]; then
      [[ $(ajson GET "/v1/requests/$Q" | jq -r .state) == done ]] && break
    elif (($(echo "$end - $start >= $1" | bc -l))); then
      break
    fi
  done
  echo "$ops $(echo "$end - $start" | bc -l)"
}
Q=$("$VSL" backup run "$D" --level 0 --no-wait --json | jq -r .request.id)
for ((i = 0; i < 600; i++)); do
  [[ $(ajson GET "/v1/backups?disk=$D&state=running" | jq '.backups | length') == 1 ]] && break
  sleep 0.02
done
read -r ops_b secs_b < <(load until-idle)
read -r ops_n secs_n < <(load "$secs_b")
during=$(echo "$ops_b / $secs_b" | bc -l)
without=$(echo "$ops_n / $secs_n" | bc -l)
printf '\n%-34s %10s %8s %8s\n' "host 4 KiB writes, depth 16" "writes/s" ops seconds
printf '%-34s %10.0f %8d %8.2f\n' "during a level 0 of the disk" "$during" "$ops_b" "$secs_b"
printf '%-34s %10.0f %8d %8.2f\n' "without a backup" "$without" "$ops_n" "$secs_n"
printf '%-34s %10.2f\n' "during / without" "$(echo "$during / $without" | bc -l)"
serve_stop
