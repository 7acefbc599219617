#!/usr/bin/env bash
# Builds the farm demo's boot image: a raw disk whose boot sector
# (tests/boot/farm_boot.S) prints the host's name and every disk it sees on
# the serial console. Sector 1 is left empty: the farm manager writes
# "host <h> server <s>" there when it copies the image onto a host's disk.
#
# Usage: scripts/make-farm-image.sh OUTPUT [SIZE]
#   SIZE: image size for truncate (default 1M); sparse beyond the boot sector.
# Needs GNU as and ld (binutils).
set -euo pipefail
if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 OUTPUT [SIZE]" >&2
  exit 1
fi
out=$1 size=${2:-1M}
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib/boot-sector.sh"
write_boot_image "$root/tests/boot/farm_boot.S" "$out" "$size"
