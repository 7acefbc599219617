#!/usr/bin/env bash
# Builds a raw disk image whose boot sector prints
#   vsl-boot: booted disk of <LABEL>
# on the first serial port (COM1) and halts (QEMU exits at once when it has
# -device isa-debug-exit,iobase=0xf4,iosize=0x04). LABEL is stored in sector
# 1, so the line proves which disk was booted.
#
# Usage: scripts/make-boot-image.sh OUTPUT LABEL [SIZE]
#   SIZE: image size for truncate (default 1M); at least 1024 bytes.
# Needs GNU as and ld (binutils).
set -euo pipefail
if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 OUTPUT LABEL [SIZE]" >&2
  exit 1
fi
out=$1 label=$2 size=${3:-1M}
if [[ ${#label} -gt 200 || "$label" == *$'\n'* ]]; then
  echo "LABEL must be one line of at most 200 characters" >&2
  exit 1
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib/boot-sector.sh"
write_boot_image "$root/tests/boot/boot.S" "$out" "$size"
printf '%s\0' "$label" | dd of="$out" bs=512 seek=1 conv=notrunc status=none
