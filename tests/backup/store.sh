#!/usr/bin/env bash
# `vsl backup-store` on a sparse 1 GiB disk file (docs/backup.md): a level 0,
# 1 % of the disk's 64 KiB blocks changed, a level 1 from the changed ranges
# and one by checksum (both must hold exactly those blocks), 1 % of 4 KiB
# blocks changed (reported), restores of every point compared byte for byte,
# a corrupted byte found by verify and refused by restore naming the extent,
# SIGKILL during create (never listed, cleaned at the next open), hostile
# manifests refused, delete refused under a child.
#
# Usage: tests/backup/store.sh [VSL_BIN]     Prints the level 1's size as a
# fraction of the disk ("FIGURE: ...").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/tests/lib/common.sh"
e2e_init 240

VSL=${1:-$root/build/vsl}
[[ -x $VSL ]] || fail_now "no vsl binary at $VSL"
command -v jq >/dev/null || fail_now "jq is needed"
T=$E2E_TMP
DISK=$T/disk.img
STORE=$T/store
SIZE=$((1 << 30))
CHUNK=65536
bs() { "$VSL" backup-store "$@"; }
# same A B: the two files hold the same bytes (cmp's small reads take ~10 s
# over 1 GiB on this machine; 8 MiB reads take one).
same() {
  python3 - "$1" "$2" <<'PY'
import os, sys
a, b = sys.argv[1], sys.argv[2]
if os.path.getsize(a) != os.path.getsize(b):
    sys.exit(f"{a} and {b} differ in size")
with open(a, "rb") as fa, open(b, "rb") as fb:
    off = 0
    while True:
        x, y = fa.read(8 << 20), fb.read(8 << 20)
        if x != y:
            sys.exit(f"{a} and {b} differ in the 8 MiB at {off}")
        if not x:
            break
        off += len(x)
PY
}
json() { bs "$@" --json; }

log "a sparse 1 GiB disk with 96 MiB of data in three regions"
truncate -s "$SIZE" "$DISK"
python3 - "$DISK" <<'PY'
import os, random, sys
random.seed(7)
with open(sys.argv[1], "r+b") as f:
    for off, mib in ((0, 32), (300 << 20, 48), ((1 << 30) - (16 << 20), 16)):
        f.seek(off)
        for _ in range(mib):
            f.write(random.randbytes(1 << 20))
PY

log "level 0"
json create "$STORE" --disk-file "$DISK" --disk vol-0007 --farm shop --server web1 >"$T/l0.json"
L0=$(jq -r .id "$T/l0.json")
check_eq "level 0 stores the data regions only, not the holes" $((96 << 20)) "$(jq .stored_bytes "$T/l0.json")"
check_eq "level 0 reads only the data regions" $((96 << 20 >> 16)) "$(jq .chunks_read "$T/l0.json")"
cp --sparse=always "$DISK" "$T/at_l0.img"

log "1 % of the disk's 64 KiB blocks changed (random blocks, holes included)"
python3 - "$DISK" "$T/changed_64k" <<'PY'
import random, sys
random.seed(11)
blocks = (1 << 30) // 65536
picked = sorted(random.sample(range(blocks), blocks // 100))
with open(sys.argv[1], "r+b") as f, open(sys.argv[2], "w") as m:
    for b in picked:
        # 4 KiB written somewhere in the block: the dirty map names those bytes.
        off = b * 65536 + random.randrange(16) * 4096
        f.seek(off)
        f.write(random.randbytes(4096))
        m.write(f"{off} 4096\n")
PY
N64=$(wc -l <"$T/changed_64k")
json create "$STORE" --disk-file "$DISK" --level 1 --parent "$L0" --changed "$T/changed_64k" --disk vol-0007 >"$T/l1r.json"
L1R=$(jq -r .id "$T/l1r.json")
json create "$STORE" --disk-file "$DISK" --level 1 --parent "$L0" --disk vol-0007 >"$T/l1c.json"
L1C=$(jq -r .id "$T/l1c.json")
check_eq "level 1 from the changed ranges holds exactly the changed blocks" $((N64 * CHUNK)) "$(jq .stored_bytes "$T/l1r.json")"
check_eq "level 1 by checksum holds exactly the changed blocks" $((N64 * CHUNK)) "$(jq .stored_bytes "$T/l1c.json")"
check_eq "level 1 by checksum found the same number of extents" "$(jq .extents "$T/l1r.json")" "$(jq .extents "$T/l1c.json")"
FRACTION=$(jq -r --argjson s "$SIZE" '.stored_bytes / $s * 100 | . * 1000 | round / 1000' "$T/l1r.json")
MANIFEST=$(stat -c %s "$STORE/backups/$L1R/manifest")
echo "FIGURE: 1 % of 64 KiB blocks changed ($N64 blocks): level 1 = $(jq .stored_bytes "$T/l1r.json") bytes = $FRACTION % of the 1 GiB disk (+ manifest $MANIFEST bytes)"
cp --sparse=always "$DISK" "$T/at_l1.img"

log "1 % of the disk's 4 KiB blocks changed (random), level 1 on top of the last"
python3 - "$DISK" "$T/changed_4k" "$T/chunks_4k" <<'PY'
import random, sys
random.seed(13)
blocks = (1 << 30) // 4096
picked = random.sample(range(blocks), blocks // 100)
with open(sys.argv[1], "r+b") as f, open(sys.argv[2], "w") as m:
    for b in picked:
        f.seek(b * 4096)
        f.write(random.randbytes(4096))
        m.write(f"{b * 4096} 4096\n")
open(sys.argv[3], "w").write(str(len({b // 16 for b in picked})))
PY
json create "$STORE" --disk-file "$DISK" --level 1 --parent "$L1R" --changed "$T/changed_4k" --disk vol-0007 >"$T/l1b.json"
L1B=$(jq -r .id "$T/l1b.json")
check_eq "level 1 of scattered 4 KiB writes holds each 64 KiB chunk they touch" $(($(cat "$T/chunks_4k") * CHUNK)) \
  "$(jq .stored_bytes "$T/l1b.json")"
echo "FIGURE: 1 % of 4 KiB blocks changed (random): level 1 = $(jq -r --argjson s "$SIZE" '.stored_bytes / $s * 100 | . * 100 | round / 100' "$T/l1b.json") % of the disk ($(cat "$T/chunks_4k") chunks of 64 KiB)"

log "restores, byte for byte"
check "restore of the level 0" bs restore "$STORE" "$L0" "$T/r0.img"
check "level 0 restored equals the disk then" same "$T/r0.img" "$T/at_l0.img"
check "restore of the first level 1 (a chain of 2)" bs restore "$STORE" "$L1C" "$T/r1.img"
check "first level 1 restored equals the disk then" same "$T/r1.img" "$T/at_l1.img"
check "restore of the second level 1 (a chain of 3)" bs restore "$STORE" "$L1B" "$T/r2.img"
check "second level 1 restored equals the disk now" same "$T/r2.img" "$DISK"
check "a restored disk is sparse (holes where the disk had none of its data)" \
  test "$(stat -c %b "$T/r0.img")" -lt $((300 << 20 >> 9))
check_fails "restore over a non-empty file without --force" bs restore "$STORE" "$L0" "$T/r2.img"
check "verify of the chain" bs verify "$STORE" "$L1B"
# docs/backup.md's "Restoring without vsl" sketch, run as written.
restore_by_hand() {
  python3 - "$root/docs/backup.md" "$STORE" "$L1B" "$T/byhand.img" <<'PY'
import sys
doc = open(sys.argv[1]).read()
start = doc.index("    import hashlib, json, os")
end = doc.index("\n## ", start)
code = "\n".join(l[4:] for l in doc[start:end].rstrip().split("\n"))
exec(code, {"S": sys.argv[2], "B": sys.argv[3], "OUT": sys.argv[4]})
PY
}
check "docs/backup.md's restore by hand runs" restore_by_hand
check "the restore by hand of docs/backup.md equals the disk" same "$T/byhand.img" "$DISK"
rm -f "$T/byhand.img"
check "list shows the four backups" test "$(json list "$STORE" | jq '.backups | length')" -eq 4
check "show names the chain" bash -c "'$VSL' backup-store show '$STORE' '$L1B' | grep -qx 'chain: $L0 $L1R $L1B'"

log "a corrupted byte in the store"
# The 10th extent of the level 0: where its bytes are in the data file.
read -r OFF AT < <(sed -n 11p "$STORE/backups/$L0/manifest" | jq -r '"\(.offset) \(.data)"')
printf '\x5a' | dd of="$STORE/backups/$L0/data" bs=1 seek=$((AT + 4321)) conv=notrunc status=none
run_to "$T/verify.out" bs verify "$STORE" "$L1B" && fail_now "verify passed on a corrupted store"
check "verify names the backup and the extent" grep -q "backup $L0: extent at offset $OFF (65536 bytes): checksum mismatch" "$T/verify.out"
run_to "$T/restore.out" bs restore "$STORE" "$L1B" "$T/r2.img" --force && fail_now "restore passed on a corrupted store"
check "restore refuses naming the backup and the extent" grep -q "backup $L0: extent at offset $OFF (65536 bytes): checksum mismatch.*nothing was written" "$T/restore.out"
check "the destination is untouched (still the disk's bytes)" same "$T/r2.img" "$DISK"
run_to "$T/restore_new.out" bs restore "$STORE" "$L1B" "$T/new.img" || true
check_not "no destination made" test -e "$T/new.img"

log "SIGKILL during create: never listed, cleaned at the next open"
for point in backup.extent:500 backup.commit.synced:1; do
  rc=0
  VSL_CRASH_AT=$point "$VSL" backup-store create "$STORE" --disk-file "$DISK" --disk vol-0007 --test-faults \
    >"$T/kill.out" 2>&1 || rc=$?
  check_eq "create killed at $point" 137 "$rc"
  check_eq "not listed after a kill at $point" 4 "$(json list "$STORE" 2>"$T/list.err" | jq '.backups | length')"
  check "the next open removed the leftover and said so ($point)" grep -q "an interrupted backup, removed" "$T/list.err"
  check "tmp/ is empty afterwards" test -z "$(ls -A "$STORE/tmp")"
done

log "hostile manifests"
H=20261130T000000Z-0000abcd
mkdir "$STORE/backups/$H"
: >"$STORE/backups/$H/data"
printf '%s\n' '{"format":"vsl-backup","version":1,"id":"'$H'","disk":"x","farm":"","server":"","level":1,"created":"2026-11-30T00:00:00Z","parent":"../../../etc","disk_size":1048576,"chunk_size":65536}' >"$STORE/backups/$H/manifest"
run_to "$T/h1.out" bs show "$STORE" "$H" || true
check "a parent that is a path is refused" grep -q "manifest line 1: header: parent '../../../etc' is not a backup id" "$T/h1.out"
check "list skips it, saying why" bash -c "'$VSL' backup-store list '$STORE' 2>&1 >/dev/null | grep -q 'skipped: backup $H: manifest line 1'"
printf '%s\n' '{"format":"vsl-backup","version":1,"id":"'$H'","disk":"x","farm":"","server":"","level":0,"created":"2026-11-30T00:00:00Z","parent":null,"disk_size":1048576,"chunk_size":65536}' \
  '{"offset":0,"length":65536,"sha256":"'"$(printf 'a%.0s' {1..64})"'","data":0}' \
  '{"offset":0,"length":65536,"sha256":"'"$(printf 'a%.0s' {1..64})"'","data":65536}' >"$STORE/backups/$H/manifest"
run_to "$T/h2.out" bs verify "$STORE" "$H" || true
check "overlapping extents are refused naming the line" grep -q "manifest line 3: extent at offset 0: overlaps" "$T/h2.out"
head -c 100000 /dev/zero | tr '\0' ' ' >"$STORE/backups/$H/manifest"
run_to "$T/h3.out" bs restore "$STORE" "$H" "$T/h.img" || true
check "a line without end is refused" grep -q "longer than 4096 bytes" "$T/h3.out"
check_not "and nothing restored" test -e "$T/h.img"
check_fails "an id that is a path" bs show "$STORE" ../../etc
echo "12 -4096" >"$T/bad_changed"
run_to "$T/bc.out" bs create "$STORE" --disk-file "$DISK" --level 1 --parent "$L0" --changed "$T/bad_changed" --disk vol-0007 || true
check "a bad changed-ranges line is refused naming it" grep -q "bad_changed:1: expected \"OFFSET LENGTH\"" "$T/bc.out"
echo "$((SIZE - 10)) 4096" >"$T/bad_changed"
run_to "$T/bc.out" bs create "$STORE" --disk-file "$DISK" --level 1 --parent "$L0" --changed "$T/bad_changed" --disk vol-0007 || true
check "a changed range beyond the disk is refused" grep -q "beyond the disk's end" "$T/bc.out"
rm -r "${STORE:?}/backups/$H"

log "memory stays bounded by the chunk, not the manifest: 32768 extents of 4 KiB"
# maxrss CMD...: the peak resident size of CMD in KiB (its output dropped).
maxrss() {
  python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 else "failed")' "$@"
}
head -c $((128 << 20)) /dev/urandom >"$T/many.img"
BASE=$(maxrss "$VSL" backup-store list "$STORE")
R_CREATE=$(maxrss "$VSL" backup-store create "$T/many" --disk-file "$T/many.img" --chunk-size 4KiB)
MANY=$(json list "$T/many" | jq -r '.backups[0].id')
R_VERIFY=$(maxrss "$VSL" backup-store verify "$T/many" "$MANY")
R_RESTORE=$(maxrss "$VSL" backup-store restore "$T/many" "$MANY" "$T/many.out")
check "the 4 KiB-chunk backup restores equal" same "$T/many.out" "$T/many.img"
echo "peak RSS: list $BASE KiB; 32768 extents (manifest $(stat -c %s "$T/many/backups/$MANY/manifest") bytes): create $R_CREATE, verify $R_VERIFY, restore $R_RESTORE KiB"
for r in "create $R_CREATE" "verify $R_VERIFY" "restore $R_RESTORE"; do
  set -- $r
  check "$1 of 32768 extents stays within 4 MiB of an idle command's memory" test "$2" -lt $((BASE + 4096))
done
rm -rf "$T/many" "$T/many.img" "$T/many.out"

log "delete"
run_to "$T/del.out" bs delete "$STORE" "$L0" && fail_now "deleted a backup that has children"
check "delete under a child is refused naming it" grep -q "backup $L0 is the parent of" "$T/del.out"
check "delete of the chain from the first level 1" bs delete "$STORE" "$L1R" --chain
check_eq "left: the level 0 and the other level 1" "$(printf '%s\n' "$L0" "$L1C" | sort | tr '\n' ' ')" \
  "$(json list "$STORE" | jq -r '.backups[].id' | sort | tr '\n' ' ')"

e2e_finish
