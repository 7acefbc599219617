#!/usr/bin/env bash
# qemu-img and qemu-io across extent boundaries: a LUN made of three extents
# from two files, at offsets that are sector- but not page-aligned. Writes a
# random image and patterns that straddle both boundaries, reads them back
# through the target, and checks the backing files: each byte is where the
# extent map says, and nothing outside the extents changed.
#
# Usage: extents.sh [VSL_BIN]     (E2E_TARGET=tgt: tgt serves one flat file,
# so the extent-map check runs against that file as a one-extent map)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/common.sh"
source "$here/../lib/target.sh"
e2e_init 300
target_use_args "$@"

INI=iqn.2026-11.org.example:db1
SECRET=db1-secret-89ab
K=1024
M=$((1024 * 1024))
# Two files of random bytes; their copies tell what must not change.
head -c $((4 * M)) /dev/urandom >"$E2E_TMP/f1.img"
head -c $((2 * M)) /dev/urandom >"$E2E_TMP/f2.img"
cp "$E2E_TMP/f1.img" "$E2E_TMP/f1.orig"
cp "$E2E_TMP/f2.img" "$E2E_TMP/f2.orig"
# The volume: f1[3584, +1 MiB+2560) ++ f2[1536, +1 MiB-1536) ++ f1[1 MiB+8192+512, +500 KiB)
E0=("$E2E_TMP/f1.img" 3584 $((M + 2560)))
E1=("$E2E_TMP/f2.img" 1536 $((M - 1536)))
E2=("$E2E_TMP/f1.img" $((M + 8192 + 512)) $((500 * K)))
B1=${E0[2]}
B2=$((B1 + E1[2]))
SIZE=$((B2 + E2[2]))
cat >"$E2E_TMP/farm.json" <<JSON
{ "iqn_prefix": "iqn.2026-11.org.vsl",
  "hosts": [ { "name": "db1", "initiator": "$INI",
               "chap": {"user": "db1", "secret": "$SECRET"},
               "luns": [ { "lun": 0, "read_only": false, "extents": [
                 {"path": "${E0[0]}", "offset": ${E0[1]}, "length": ${E0[2]}},
                 {"path": "${E1[0]}", "offset": ${E1[1]}, "length": ${E1[2]}},
                 {"path": "${E2[0]}", "offset": ${E2[1]}, "length": ${E2[2]}} ] } ] } ] }
JSON
target_start "$E2E_TMP/farm.json"
MAP="${E0[*]} ${E1[*]} ${E2[*]}"
flat=$(target_flat_backing db1 0)
[[ -n "$flat" ]] && MAP="$flat 0 $SIZE"
echo "    volume size $SIZE, boundaries at $B1 and $B2; extent map: $MAP"

SEC=(--object "secret,id=sec0,data=$SECRET")
OPTS=$(target_qemu_opts db1 0 "$INI" db1 sec0)
qio() { timeout 60 qemu-io "${SEC[@]}" --image-opts "$OPTS" "$@"; }

check "qemu-img info reports the volume size ($SIZE)" \
  bash -c '[[ "$(timeout 60 qemu-img info "$@" | sed -n "s/^virtual size: .*(\([0-9]*\) bytes)$/\1/p")" == '"$SIZE"' ]]' \
  _ "${SEC[@]}" --image-opts "$OPTS"

log "write a random image over the whole volume (qemu-img convert)"
head -c "$SIZE" /dev/urandom >"$E2E_TMP/expected.bin"
check "qemu-img convert writes the image" \
  timeout 120 qemu-img convert -n -f raw "$E2E_TMP/expected.bin" "${SEC[@]}" --target-image-opts "$OPTS"

log "patterns straddling the boundaries (qemu-io)"
# offset length byte: each write also goes into expected.bin.
WRITES=(
  "$((B1 - 64 * K)) $((128 * K)) 0xab"      # across boundary 1
  "$((B2 - 4096 - 512)) $((12 * K)) 0xcd"   # across boundary 2, not page-aligned
  "$((B1 - 512)) 1024 0x5a"                 # one sector each side of boundary 1
  "$((B1 - 8 * K)) $((B2 - B1 + 16 * K)) 0x11"  # all of extent 1 and a bit of 0 and 2
  "$((SIZE - 1536)) 1536 0xee"              # the volume's last sectors
)
# The 0x11 write covers the earlier ones around boundary 1; apply in order.
for w in "${WRITES[@]}"; do
  read -r off len byte <<<"$w"
  check "qemu-io write -P $byte $off $len" qio -c "write -P $byte $off $len"
  python3 - "$E2E_TMP/expected.bin" "$off" "$len" "$byte" <<'PY'
import sys
path, off, ln, byte = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4], 16)
with open(path, "r+b") as f:
    f.seek(off)
    f.write(bytes([byte]) * ln)
PY
done
check "qemu-io write -f (FUA) -P 0x77 at boundary 2" qio -c "write -f -P 0x77 $((B2 - 512)) 4096"
python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); f.write(b"\x77" * 4096)' "$E2E_TMP/expected.bin" $((B2 - 512))
check "qemu-io reads back 0x77 across boundary 2" qio -c "read -P 0x77 $((B2 - 512)) 4096"
check "qemu-io reads back 0x11 over extent 1" qio -c "read -P 0x11 $((B1 - 8 * K)) $((B2 - B1 - 4 * K))"
check "qemu-io reads back 0xee at the end" qio -c "read -P 0xee $((SIZE - 1536)) 1536"

log "read the whole volume back (qemu-img convert) and compare"
check "qemu-img convert reads the volume" \
  timeout 120 qemu-img convert "${SEC[@]}" --image-opts "$OPTS" -O raw "$E2E_TMP/readback.bin"
check "the volume reads back as written" cmp "$E2E_TMP/expected.bin" "$E2E_TMP/readback.bin"
check "qemu-img compare finds the LUN equal to the expected image" \
  timeout 120 qemu-img compare "${SEC[@]}" --image-opts "driver=file,filename=$E2E_TMP/expected.bin" "$OPTS"

log "the backing files hold each byte where the extent map says"
check "extents of the backing files equal the volume" python3 - "$E2E_TMP/expected.bin" $MAP <<'PY'
import sys
expected = open(sys.argv[1], "rb").read()
args = sys.argv[2:]
pos = 0
for i in range(0, len(args), 3):
    path, off, ln = args[i], int(args[i + 1]), int(args[i + 2])
    with open(path, "rb") as f:
        f.seek(off)
        got = f.read(ln)
    want = expected[pos:pos + ln]
    if got != want:
        bad = next(j for j in range(min(len(got), len(want))) if got[j] != want[j]) \
            if len(got) == len(want) else min(len(got), len(want))
        sys.exit(f"extent {i // 3} ({path} @ {off}, {ln} bytes): first difference at "
                 f"volume offset {pos + bad} (file offset {off + bad})")
    pos += ln
if pos != len(expected):
    sys.exit(f"extents cover {pos} bytes, the volume has {len(expected)}")
print(f"{pos} bytes match")
PY
if [[ -z "$flat" ]]; then
  check "bytes of f1 and f2 outside the extents are unchanged" python3 - "$MAP" "$E2E_TMP" <<'PY'
import sys
args = sys.argv[1].split()
tmp = sys.argv[2]
covered = {}
for i in range(0, len(args), 3):
    covered.setdefault(args[i], []).append((int(args[i + 1]), int(args[i + 2])))
for name in ("f1", "f2"):
    cur = open(f"{tmp}/{name}.img", "rb").read()
    orig = bytearray(open(f"{tmp}/{name}.orig", "rb").read())
    if len(cur) != len(orig):
        sys.exit(f"{name}.img changed size: {len(orig)} -> {len(cur)}")
    want = bytearray(orig)
    for off, ln in covered.get(f"{tmp}/{name}.img", []):
        want[off:off + ln] = cur[off:off + ln]
    if bytes(want) != cur:
        j = next(j for j in range(len(cur)) if cur[j] != want[j])
        sys.exit(f"{name}.img changed outside its extents at file offset {j}")
print("unchanged")
PY
fi

e2e_finish
