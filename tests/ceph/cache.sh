#!/usr/bin/env bash
# A boot storm through the gateway's read cache (issue 12): on a throw-away
# Ceph cluster (tests/lib/ceph.sh), a farm of N servers (5; CACHE_HOSTS)
# whose boot disks are RBD clones of one 64 MiB image, with the FML
# attribute cache=read. Every host replays the same boot-read pattern (a
# few hundred reads, 4 to 128 KiB, over a quarter of the image) through
# libiscsi (tests/tools/iscsi_replay.c), all at once:
#   - every host reads exactly the image's bytes
#   - the bytes the gateway asked of the cluster for all N clones together
#     (the units' backend_read_bytes) are well under N x one host's reads:
#     a clone's unwritten objects are cached once, under the parent's
#     snapshot, for all its siblings (FIGURE line)
#   - a host that writes its clone reads its own bytes back afterwards; its
#     siblings still read the image there (its write is keyed by the clone,
#     never by the parent)
#   cache.sh VSL
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../api/lib.sh"
source "$HERE/../lib/ceph.sh"
api_suite "$1" 240

N=${CACHE_HOSTS:-5}
MiB=$((1 << 20))
REPLAY=$E2E_TMP/iscsi_replay
gcc -O1 -o "$REPLAY" "$HERE/../tools/iscsi_replay.c" -liscsi || fail_now "cannot build tests/tools/iscsi_replay.c"
ceph_e2e_start
serve_start "$E2E_TMP/data" --power none --cache 256MiB
check "rbd array r1 added (class=performance)" v array add r1 "${RBD_ARGS[@]}" --capacity 16GiB \
  --quality class=performance
head -c $((64 * MiB)) /dev/urandom >"$E2E_TMP/os.raw"
check "image os (64 MiB of random bytes) imported" v image import os "$E2E_TMP/os.raw"
for ((i = 1; i <= N; i++)); do
  v host add "h$i" --hw x86-vm --initiator "iqn.2026-11.org.test:h$i" --chap-secret "secret-of-h$i-0123" >/dev/null ||
    fail_now "host h$i"
done
clone_farm_fml storm "$N" 64MiB os read >"$E2E_TMP/farm.fml"
check "vsl farm plan shows the cache policy" bash -c "'$VSL' farm plan '$E2E_TMP/farm.fml' | grep -q 'set cache policy of .*: read'"
check "farm of $N servers applied on r1" timeout 180 "$VSL" farm apply "$E2E_TMP/farm.fml"
unit_of() { ajson GET "/v1/hosts/$1" | jq -r '.bindings[] | select(.lun == 0) | .volume_id'; }
UNITS=()
for ((i = 1; i <= N; i++)); do UNITS+=("$(unit_of "h$i")"); done
R1_MASTER=$(ajson GET /v1/images/os | jq '.masters[] | select(.array == "r1") | .volume_id')
clones=0
for u in "${UNITS[@]}"; do
  [[ $(ajson GET "/v1/volumes/$u" | jq -r .clone_of) == "$R1_MASTER" ]] && clones=$((clones + 1))
done
check_eq "all $N boot disks are clones of r1's copy of the image" "$N" "$clones"
cached=0
for u in "${UNITS[@]}"; do
  [[ $(ajson GET "/v1/volumes/$u" | jq -r .cache_stats.reads_cached) == true ]] && cached=$((cached + 1))
done
check_eq "all $N have cache policy read in the gateway (from the FML attribute)" "$N" "$cached"

# The boot-read pattern: runs of 4-128 KiB reads from 40 places in the image.
python3 - "$E2E_TMP/pattern" "$E2E_TMP/os.raw" "$E2E_TMP/expect" <<'PY'
import random, sys
random.seed(12)
size = 64 << 20
lines, out = [], open(sys.argv[3], "wb")
img = open(sys.argv[2], "rb")
for _ in range(40):
    off = random.randrange(0, size - (1 << 20), 4096)
    for _ in range(random.randrange(4, 16)):
        n = random.choice([4096, 4096, 8192, 16384, 65536, 131072])
        if off + n > size:
            break
        lines.append(f"r {off} {n}")
        img.seek(off)
        out.write(img.read(n))
        off += n + random.choice([0, 0, 4096, 65536])
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
P=$(stat -c %s "$E2E_TMP/expect")
log "the pattern: $(wc -l <"$E2E_TMP/pattern") reads, $P bytes per host"
backend() {
  local s=0 u
  for u in "${UNITS[@]}"; do s=$((s + $(ajson GET "/v1/volumes/$u" | jq -r .cache_stats.backend_read_bytes))); done
  echo "$s"
}
url() { echo "iscsi://h$1%secret-of-h$1-0123@$PORTAL/iqn.2026-11.org.vsl:h$1/0"; }
storm() {  # storm TAG: every host replays the pattern at once
  local i pids=()
  for ((i = 1; i <= N; i++)); do
    timeout 90 "$REPLAY" "iqn.2026-11.org.test:h$i" "$(url "$i")" "$E2E_TMP/pattern" "$E2E_TMP/$1.$i" \
      >/dev/null 2>"$E2E_TMP/$1.$i.err" &
    pids+=($!)
  done
  local bad=0
  for i in "${pids[@]}"; do wait "$i" || bad=$((bad + 1)); done
  return "$bad"
}

b0=$(backend)
t0=$(date +%s%N)
check "$N hosts replay the boot pattern at once" storm boot
t1=$(date +%s%N)
b1=$(backend)
same=0
for ((i = 1; i <= N; i++)); do cmp -s "$E2E_TMP/boot.$i" "$E2E_TMP/expect" && same=$((same + 1)); done
check_eq "every host read exactly the image's bytes" "$N" "$same"
READ=$((b1 - b0))
echo "FIGURE cache boot storm: $N hosts x $P bytes read = $((N * P)) bytes; the cluster was asked for $READ bytes" \
  "($(python3 -c "print(f'{$READ / $P:.2f}')") x one host's reads, $(python3 -c "print(f'{$READ * 100 / ($N * $P):.0f}')") % of $N x)" \
  "in $(((t1 - t0) / 1000000)) ms"
check "the cluster read well under $N x ($READ < 2 x $P)" test "$READ" -lt $((2 * P))

log "h1 writes 64 KiB of 0x5a where the pattern starts; then the storm again"
read -r _ W0 _ <"$E2E_TMP/pattern"
echo "w $W0 65536" >"$E2E_TMP/write"
check "h1 writes its clone" timeout 30 "$REPLAY" iqn.2026-11.org.test:h1 "$(url 1)" "$E2E_TMP/write" /dev/null
python3 - "$E2E_TMP/pattern" "$E2E_TMP/expect" "$E2E_TMP/expect.h1" "$W0" <<'PY'
import sys
w = int(sys.argv[4])
data = bytearray(open(sys.argv[2], "rb").read())
at = 0
for line in open(sys.argv[1]):
    _, off, n = line.split()
    off, n = int(off), int(n)
    for k in range(n):
        if w <= off + k < w + 65536:
            data[at + k] = 0x5a
    at += n
open(sys.argv[3], "wb").write(data)
PY
b2=$(backend)
check "$N hosts replay it again" storm again
b3=$(backend)
check "h1 reads its own write back" cmp "$E2E_TMP/again.1" "$E2E_TMP/expect.h1"
same=0
for ((i = 2; i <= N; i++)); do cmp -s "$E2E_TMP/again.$i" "$E2E_TMP/expect" && same=$((same + 1)); done
check_eq "its siblings still read the image there" "$((N - 1))" "$same"
echo "second storm: the cluster was asked for $((b3 - b2)) bytes (h1's written object comes from its clone)"
check "the second storm read less than one host's pattern from the cluster ($((b3 - b2)) < $P)" test $((b3 - b2)) -lt "$P"
check "serve stops cleanly" serve_stop
e2e_finish
