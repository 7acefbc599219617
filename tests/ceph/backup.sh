#!/usr/bin/env bash
# Backups of disks on an rbd array (issue 10), through the real binary, a
# throw-away Ceph cluster (tests/lib/ceph.sh) and a real initiator (qemu-io
# and qemu-img over iSCSI with the host's CHAP):
#  - known patterns written to a mapped RBD disk, level 0, more writes,
#    level 1 (mode rbd-diff: rbd_diff_iterate2 between the parent's
#    snapshot vsl-bk-ID and the new one), more, level 1 again; each point
#    restored with --new (onto the rbd array, mapped at another LUN) equals
#    the disk then, byte for byte; only the latest backup's snapshot is
#    left on the image; a destructive restore of the middle point (not
#    refused: h1 is not powered on) and, with --force, gives the host those bytes; the
#    parent's snapshot removed by hand: the level 1 compares checksums and
#    says why;
#  - checksummed random writes from a host during a level 0: the backup
#    holds, for some instant S, exactly the writes 1..S, and the host's data
#    afterwards is intact;
#  - a 1 GiB disk with 1 % of its 64 KiB chunks changed: a level 1 of about
#    1 % by rbd-diff (the figure is printed);
#  - a meta volume of an rbd member and a file member: one instant, each
#    member its way (rbd-diff+map);
#  - kill -9 of serve during a backup: no partial backup listed, the row
#    failed, the re-run succeeds by rbd-diff and the killed run's snapshot
#    is gone.
# Usage: backup.sh VSL
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../api/lib.sh"
source "$HERE/../lib/ceph.sh"
api_suite "$1" 240

ceph_e2e_start
admin_rbd() { ceph_admin_rbd "$@"; }
MiB=$((1 << 20))
STORE=$E2E_TMP/store
DATA=$E2E_TMP/data

serve_start "$DATA" --backup-dir "$STORE"
check "rbd array r1 added" v array add r1 "${RBD_ARGS[@]}" --capacity 2GiB --quality media=ceph
chap_hosts h1

qio() { qemu_io h1 "$@"; }    # qio LUN CMD...: qemu-io commands on h1's LUN; every one must succeed
grab() { qemu_grab h1 "$@"; }  # grab LUN OUT
unit() {  # unit SIZE-BYTES QUALITY-JSON: a configured unit's id
  ajson POST '/v1/disks/allocate-unit?wait=true' "{\"size\": $1, \"qualities\": $2}" | jq -r .result.volume
}
image_of() {  # the RBD image of a plain unit on r1
  echo "vsl-r1-$(ajson GET "/v1/volumes/$1" | jq -r .array_volume)"
}
bk_snaps() { admin_rbd snap ls "$1" 2>/dev/null | awk '$2 ~ /^vsl-bk-/ {print $2}' | sort | tr '\n' ' ' | sed 's/ $//'; }
run() { v backup run "$@" --json; }
field() { jq -r "$1" <<<"$2"; }

log "level 0, level 1, level 1 of an RBD disk the host writes"
D=$(unit $((16 * MiB)) '{"media": "ceph"}')
check_eq "a 16 MiB unit on r1" r1 "$(ajson GET "/v1/volumes/$D" | jq -r .array)"
IMG=$(image_of "$D")
check "bind D to h1 at LUN 0 and map it" bash -c "'$VSL' disk bind $D --host h1 --lun 0 && '$VSL' disk map $D"
check "pattern 0x11 over the disk, 0x12 at 12M" qio 0 "write -P 0x11 0 16M" "write -P 0x12 12M 100k"
grab 0 "$E2E_TMP/s0.raw"
R0=$(run "$D" --level 0)
B0=$(field .result.backup "$R0")
check_eq "level 0 is full" "0 full" "$(field '"\(.result.level) \(.result.mode)"' "$R0")"
check_eq "the image has the snapshot vsl-bk-$B0" "vsl-bk-$B0" "$(bk_snaps "$IMG")"
check "pattern 0x22 at 1M..3M, 0x33 at 9M (64 KiB)" qio 0 "write -P 0x22 1M 2M" "write -P 0x33 9M 64k"
grab 0 "$E2E_TMP/s1.raw"
R1=$(run "$D" --level 1)
B1=$(field .result.backup "$R1")
check_eq "level 1 by rbd-diff, parent the level 0" "1 rbd-diff $B0" \
  "$(field '"\(.result.level) \(.result.mode) \(.result.parent)"' "$R1")"
check_eq "it stored exactly the 33 changed chunks" $((33 * 65536)) "$(field .result.bytes_stored "$R1")"
check_eq "the parent's snapshot is gone, the new one kept" "vsl-bk-$B1" "$(bk_snaps "$IMG")"
check "pattern 0x44 at 4M (1 MiB), 4 KiB of 0x55 at 15M, 64 KiB of zeros at 6M" \
  qio 0 "write -P 0x44 4M 1M" "write -P 0x55 15M 4k" "write -z 6M 64k"
grab 0 "$E2E_TMP/s2.raw"
R2=$(run "$D" --level 1)
B2=$(field .result.backup "$R2")
check_eq "the second level 1 by rbd-diff, parent the first" "rbd-diff $B1" "$(field '"\(.result.mode) \(.result.parent)"' "$R2")"
check_eq "it stored the 17 written chunks (the zeroed one as a zero extent)" $((17 * 65536)) "$(field .result.bytes_stored "$R2")"

log "each point restored onto a new disk (on r1), mapped at LUN 1..3, equals the disk then"
lun=1
for pair in "$B0 s0" "$B1 s1" "$B2 s2"; do
  set -- $pair
  out=$(v backup restore "$1" --new --map-to h1 --lun $lun --json)
  check "restore $1 --new --map-to h1 --lun $lun" test $? -eq 0
  NV=$(jq -r .result.volume <<<"$out")
  check_eq "the new disk $NV lies on r1" r1 "$(ajson GET "/v1/volumes/$NV" | jq -r .array)"
  grab $lun "$E2E_TMP/r$lun.raw"
  check "LUN $lun equals $2 byte for byte" cmp "$E2E_TMP/$2.raw" "$E2E_TMP/r$lun.raw"
  lun=$((lun + 1))
done

log "destructive restore of the middle point"
# Refused only while mapped to a powered-on server (tests/api/restore.sh);
# h1 has no power controller, so the restore goes ahead without --force.
out=$(api POST "/v1/backups/$B1/restore?wait=true" "{\"volume\":$D}")
check_eq "allowed while mapped to a host that is not powered on: HTTP 200" 200 "$(tail -1 <<<"$out")"
check "restore --to --force" v backup restore "$B1" --to "$D" --force
grab 0 "$E2E_TMP/back.raw"
check "the host reads exactly the middle point" cmp "$E2E_TMP/s1.raw" "$E2E_TMP/back.raw"
R3=$(run "$D" --level 1)
B3=$(field .result.backup "$R3")
check_eq "a level 1 after it is still by rbd-diff (the restore's writes are in the diff)" rbd-diff "$(field .result.mode "$R3")"
check "... and restores to the middle point" v backup-store restore "$STORE" "$B3" "$E2E_TMP/b3.raw"
check "byte for byte" cmp "$E2E_TMP/s1.raw" "$E2E_TMP/b3.raw"

log "the parent's snapshot removed by hand"
check "rbd snap rm $IMG@vsl-bk-$B3" admin_rbd snap rm "$IMG@vsl-bk-$B3"
check "pattern 0x66 at 2M" qio 0 "write -P 0x66 2M 64k"
grab 0 "$E2E_TMP/s4.raw"
R4=$(run "$D" --level 1)
check_eq "the level 1 compares checksums" checksum "$(field .result.mode "$R4")"
check "and says the parent's snapshot is gone" grep -q "snapshot is gone.*vsl-bk-$B3" <<<"$(field .result.mode_reason "$R4")"
check_eq "it stored the one changed chunk" 65536 "$(field .result.bytes_stored "$R4")"
check "it restores to the disk as it was" v backup-store restore "$STORE" "$(field .result.backup "$R4")" "$E2E_TMP/b4.raw"
check "byte for byte" cmp "$E2E_TMP/s4.raw" "$E2E_TMP/b4.raw"

log "checksummed random writes from the host during a level 0"
W=$(unit $((32 * MiB)) '{"media": "ceph"}')
check "map W at LUN 5" bash -c "'$VSL' disk bind $W --host h1 --lun 5 && '$VSL' disk map $W"
ROUNDS=12 PER=100
mkdir -p "$E2E_TMP/blk"
# Writes 1..ROUNDS*PER: 4 KiB of random bytes each (a file per write, its
# SHA-256 known) at a random 4 KiB block of the disk.
python3 - "$E2E_TMP/blk" $((ROUNDS * PER)) $((32 * MiB / 4096)) <<'PY'
import hashlib, os, random, sys
d, n, blocks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
with open(os.path.join(d, "plan"), "w") as plan:
    for s in range(1, n + 1):
        data = os.urandom(4096)
        open(os.path.join(d, str(s)), "wb").write(data)
        plan.write(f"{s} {rng.randrange(blocks)} {hashlib.sha256(data).hexdigest()}\n")
PY
writer() {
  local r s b cmds
  for ((r = 0; r < ROUNDS; r++)); do
    cmds=()
    while read -r s b _; do
      ((s > r * PER && s <= (r + 1) * PER)) && cmds+=("write -s $E2E_TMP/blk/$s $((b * 4096)) 4k")
    done <"$E2E_TMP/blk/plan"
    qio 5 "${cmds[@]}" || return 1
    echo $((r + 1)) >"$E2E_TMP/round"
  done
}
echo 0 >"$E2E_TMP/round"
writer &
WPID=$!
e2e_on_exit "kill $WPID"
for ((i = 0; i < 600; i++)); do [[ $(cat "$E2E_TMP/round") -ge 2 ]] && break; sleep 0.1; done
RW=$(run "$W" --level 0)
log "the backup returned after round $(cat "$E2E_TMP/round") of $ROUNDS"
wait "$WPID"
check "the writer ran without error" test $? -eq 0
BW=$(field .result.backup "$RW")
check "the backup restores by the store alone" v backup-store restore "$STORE" "$BW" "$E2E_TMP/w.raw"
grab 5 "$E2E_TMP/w_after.raw"
# consistent IMAGE S_MIN S_MAX: every block of IMAGE holds the last write
# to it with seq <= S (or zeros: none) for one S in [S_MIN, S_MAX]; prints S's range.
consistent() {
  python3 - "$E2E_TMP/blk/plan" "$1" "$2" "$3" <<'PY'
import hashlib, sys
plan = [l.split() for l in open(sys.argv[1])]
img = open(sys.argv[2], "rb").read()
lo, hi = int(sys.argv[3]), int(sys.argv[4])
by_sha = {sha: int(s) for s, b, sha in plan}
writes = {}
for s, b, sha in plan:
    writes.setdefault(int(b), []).append(int(s))
for b, seqs in writes.items():
    data = img[b * 4096:(b + 1) * 4096]
    got = 0 if data == bytes(4096) else by_sha.get(hashlib.sha256(data).hexdigest(), -1)
    assert got >= 0, f"block {b}: a torn or foreign block"
    # got must be the last write to b with seq <= S: S in [got, next write after got - 1]
    if got:
        assert got in seqs, f"block {b} holds write {got}, which went to another block"
    later = [s for s in seqs if s > got]
    lo = max(lo, got)
    hi = min(hi, later[0] - 1 if later else hi)
assert lo <= hi, f"no single instant: S would be in [{lo}, {hi}]"
print(f"S in [{lo}, {hi}]")
PY
}
out=$(consistent "$E2E_TMP/w.raw" 0 $((ROUNDS * PER)))
check "every block of the backup is a whole write, and one instant S holds them all (writes 1..S, none after)" test $? -eq 0
log "the backup holds the writes 1..S with $out of $((ROUNDS * PER))"
out=$(consistent "$E2E_TMP/w_after.raw" $((ROUNDS * PER)) $((ROUNDS * PER)))
check "the host's data after the backup is intact: every write, the last of each block" test $? -eq 0

log "a 1 GiB RBD disk with 1 % of its 64 KiB chunks changed"
G=$(unit $((1024 * MiB)) '{"media": "ceph"}')
check "map G at LUN 7" bash -c "'$VSL' disk bind $G --host h1 --lun 7 && '$VSL' disk map $G"
cmds=()
# The last 4 KiB of each object: every object exists at its full size
# before the level 0 (a write that grew an object would count the growth).
for ((o = 1; o <= 256; o++)); do cmds+=("write -P 0x61 $((o * 4 * MiB - 4096)) 4k"); done
check "4 KiB at the end of each of its 256 RBD objects" qio 7 "${cmds[@]}"
RG0=$(run "$G" --level 0)
check_eq "level 0 full" full "$(field .result.mode "$RG0")"
cmds=()
for ((c = 0; c < 164; c++)); do cmds+=("write -P 0x77 $((c * 100 * 65536 + 8192)) 4k"); done
check "164 of 16384 chunks written (4 KiB each)" qio 7 "${cmds[@]}"
RG1=$(run "$G" --level 1)
stored=$(field .result.bytes_stored "$RG1")
check_eq "level 1 by rbd-diff" rbd-diff "$(field .result.mode "$RG1")"
check_eq "it stored the 164 changed chunks" $((164 * 65536)) "$stored"
log "FIGURE: 1 GiB RBD disk, 164 of 16384 chunks changed: level 1 stored $stored bytes = $(python3 -c "print(f'{$stored / 2**30 * 100:.2f}')") % of the disk (mode rbd-diff)"

log "a meta volume of an rbd member and a file member: one instant, each member its way"
check "rbd array r5 (one 16 MiB volume, raid=5)" v array add r5 "${RBD_ARGS[@]}" --capacity 16MiB --volume-size 16MiB --quality raid=5
check "file array f5 (one 16 MiB volume, raid=5)" v array add f5 --path "$E2E_TMP/f5" --capacity 16MiB --volume-size 16MiB --quality raid=5
M=$(unit $((32 * MiB)) '{"raid": "5"}')
check_eq "a 32 MiB unit of two members, on f5 and r5" "f5 r5" \
  "$(v volume list --all --json | jq -r --argjson m "${M:-0}" '[.volumes[] | select(.parent_id == $m) | .array] | sort | join(" ")')"
check "map M at LUN 9" bash -c "'$VSL' disk bind $M --host h1 --lun 9 && '$VSL' disk map $M"
check "patterns on both members, across the boundary" qio 9 "write -P 0x21 0 32M" "write -P 0x22 15M 2M"
grab 9 "$E2E_TMP/m0.raw"
RM0=$(run "$M" --level 0)
check "pattern 0x23 in each member" qio 9 "write -P 0x23 1M 64k" "write -P 0x24 20M 128k" "write -P 0x25 16352k 64k"
grab 9 "$E2E_TMP/m1.raw"
RM1=$(run "$M" --level 1)
check_eq "the level 1 is by rbd-diff for the rbd member and the map for the file member" rbd-diff+map "$(field .result.mode "$RM1")"
check_eq "it stored the 5 changed chunks" $((5 * 65536)) "$(field .result.bytes_stored "$RM1")"
for p in "RM0 m0" "RM1 m1"; do
  set -- $p
  check "$1 restores by the store alone" v backup-store restore "$STORE" "$(field .result.backup "${!1}")" "$E2E_TMP/$2.back"
  check "... equal to the disk then" cmp "$E2E_TMP/$2.raw" "$E2E_TMP/$2.back"
done

log "an unmapped RBD disk: its snapshot made through a handle of its own, its level 1 by rbd-diff (no change map needed)"
U=$(unit $((8 * MiB)) '{"media": "ceph"}')
check "map U at LUN 11" bash -c "'$VSL' disk bind $U --host h1 --lun 11 && '$VSL' disk map $U"
check "0x31 over it, 0x32 at 5M" qio 11 "write -P 0x31 0 8M" "write -P 0x32 5M 64k"
grab 11 "$E2E_TMP/u.raw"
check "unmap U" v disk unmap "$U"
RU0=$(run "$U" --level 0)
check_eq "level 0 full" full "$(field .result.mode "$RU0")"
RU1=$(run "$U" --level 1)
check_eq "level 1 by rbd-diff, nothing stored (nothing changed)" "rbd-diff 0" \
  "$(field '"\(.result.mode) \(.result.bytes_stored)"' "$RU1")"
check "it restores by the store alone" v backup-store restore "$STORE" "$(field .result.backup "$RU1")" "$E2E_TMP/u.back"
check "byte for byte" cmp "$E2E_TMP/u.raw" "$E2E_TMP/u.back"
check_eq "one snapshot left on U's image" "vsl-bk-$(field .result.backup "$RU1")" "$(bk_snaps "$(image_of "$U")")"
check_eq "and no lock held on it (the backup's handle closed)" "" \
  "$(admin_rbd lock ls "$(image_of "$U")" 2>/dev/null | awk 'NR>1 && $1 ~ /^client\./ {print $1}')"

log "a destructive restore onto an unmapped RBD disk: through librbd, zero ranges discarded"
S=$(unit $((64 * MiB)) '{"media": "ceph"}')
SIMG=$(image_of "$S")
check "map S at LUN 12" bash -c "'$VSL' disk bind $S --host h1 --lun 12 && '$VSL' disk map $S"
check "64 KiB at 0 and at 40M, nothing else" qio 12 "write -P 0x41 0 64k" "write -P 0x42 40M 64k"
grab 12 "$E2E_TMP/sp.raw"
BS=$(field .result.backup "$(run "$S" --level 0)")
check "then 0x43 over all of it" qio 12 "write -P 0x43 0 64M"
check "unmap S" v disk unmap "$S"
used() { admin_rbd du --format json "$1" 2>/dev/null | jq '[.images[] | select(.snapshot == null)][0].used_size'; }
log "S's image uses $(used "$SIMG") bytes before the restore"
check "restore $BS --to S" v backup restore "$BS" --to "$S"
check "the image holds the backup's bytes" cmp "$E2E_TMP/sp.raw" <(admin_rbd export "$SIMG" - 2>/dev/null)
u=$(used "$SIMG")
check "its zero ranges were discarded: at most 2 of its 16 objects remain (used $u bytes)" test "${u:-999999999}" -le $((8 * MiB))

log "kill -9 of serve during an RBD backup"
check "serve stops" serve_stop
VSL_CRASH_AT=op.backup.filled:1 serve_start "$DATA" --backup-dir "$STORE"
check "pattern 0x67 at 3M on D" qio 0 "write -P 0x67 3M 64k"
grab 0 "$E2E_TMP/s5.raw"
n_before=$(v backup-store list "$STORE" --json | jq '.backups | length')
latest=$(field .result.backup "$R4")
v backup run "$D" --level 1 --no-wait --json >/dev/null 2>&1
for ((i = 0; i < 300; i++)); do alive "$SERVE_PID" || break; sleep 0.1; done
check_not "serve died during the backup" alive "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
check "at the crash point (data read, not committed)" grep -q "crash point op.backup.filled" "$SERVE_LOG"
check_eq "the store lists no partial backup" "$n_before" "$(v backup-store list "$STORE" --json | jq '.backups | length')"
check_eq "the killed run left its snapshot beside the parent's" 2 "$(bk_snaps "$IMG" | wc -w)"
serve_start "$DATA" --backup-dir "$STORE"
Q=$(ajson GET "/v1/requests?op=backup&limit=100000" | jq '[.requests[].id] | max')
st=$(request_wait "$Q")
check_eq "the request's re-run succeeded" done "$st"
RQ=$(ajson GET "/v1/requests/$Q")
BQ=$(field .result.backup "$RQ")
check_eq "by rbd-diff from the last complete backup" "rbd-diff $latest" "$(field '"\(.result.mode) \(.result.parent)"' "$RQ")"
check_eq "the killed run's row is failed" 1 \
  "$(ajson GET "/v1/backups?disk=$D&state=failed" | jq '[.backups[] | select(.request == '"$Q"')] | length')"
check_eq "the store has one more backup" $((n_before + 1)) "$(v backup-store list "$STORE" --json | jq '.backups | length')"
check_eq "the killed run's snapshot and the parent's are gone: only the new one" "vsl-bk-$BQ" "$(bk_snaps "$IMG")"
check "it restores to the disk as it was" v backup-store restore "$STORE" "$BQ" "$E2E_TMP/s5.back"
check "byte for byte" cmp "$E2E_TMP/s5.raw" "$E2E_TMP/s5.back"

check "vsl serve stops cleanly" serve_stop
e2e_finish
