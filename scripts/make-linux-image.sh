#!/usr/bin/env bash
# Builds a bootable raw disk image of a real Linux for vsl's hosts:
#   sector 0      syslinux's MBR and a partition table with one bootable
#                 FAT16 partition (label VSLLINUX) from 1 MiB to the end;
#   the partition syslinux, Debian's kernel (linux-image-amd64), an initramfs
#                 and vsl/ (the kernel's SHA-256, filled by each boot's init).
# The initramfs holds busybox-static, the kernel modules a diskless host needs
# (IDE for QEMU's own initiator; e1000, iscsi_tcp and iscsi_ibft for a boot
# through the NIC's firmware) and open-iscsi's iscsistart with its libraries.
# Its init (scripts/lib/linux-init.sh) finds its boot disk, checks the kernel it
# booted reads back with the checksum recorded here, writes and reads back a
# file on its own disk, and prints one line that starts with "vsl-linux: up".
#
# No loop device, mount or kernel module is used on the build machine: the
# packages are fetched with `apt-get download` and unpacked with dpkg-deb into
# a cache, the file system is made with mkfs.fat + mtools. Two builds with the
# same packages give the same bytes (SOURCE_DATE_EPOCH, mkfs.fat --invariant,
# cpio --reproducible, gzip -n).
#
# Usage: scripts/make-linux-image.sh OUT [--then stay|poweroff] [--size MIB]
#   --then   what the host does after its checks: stay up (default, like a
#            server) or power off (tests that wait for the VM to exit)
#   --size   image size in MiB (default 48; at least 32)
# Environment: VSL_LINUX_CACHE (default ~/.cache/vsl/linux) keeps the packages.
# Needs: apt-get, dpkg-deb, kmod (depmod, modprobe), cpio, gzip, mtools,
# dosfstools, syslinux, syslinux-common (scripts/deps.sh installs them).
set -euo pipefail

usage() { echo "usage: $0 OUT [--then stay|poweroff] [--size MIB]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
out=$1
shift
then_mode=stay size_mib=48
while [[ $# -gt 0 ]]; do
  case $1 in
    --then) [[ $# -ge 2 ]] || usage; then_mode=$2; shift 2 ;;
    --size) [[ $# -ge 2 ]] || usage; size_mib=$2; shift 2 ;;
    *) echo "unknown option '$1'" >&2; usage ;;
  esac
done
[[ $then_mode == stay || $then_mode == poweroff ]] || { echo "--then must be stay or poweroff, not '$then_mode'" >&2; exit 2; }
[[ $size_mib =~ ^[0-9]+$ && $size_mib -ge 32 && $size_mib -le 4096 ]] || { echo "--size must be 32..4096 MiB, not '$size_mib'" >&2; exit 2; }

root="$(cd "$(dirname "$0")/.." && pwd)"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1764460800}  # 2025-11-30 00:00 UTC
export MTOOLS_SKIP_CHECK=1 LC_ALL=C TZ=UTC
cache=${VSL_LINUX_CACHE:-${HOME:-/root}/.cache/vsl/linux}
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- packages: downloaded once per version, unpacked into the cache ---------
kver=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -1)
if [[ -z $kver ]]; then
  apt-get update -qq
  kver=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -1)
fi
[[ -n $kver ]] || { echo "cannot resolve linux-image-amd64's kernel package" >&2; exit 1; }
pkgs=("linux-image-$kver" busybox-static open-iscsi libopeniscsiusr)
tree="$cache/tree-$kver"
if [[ ! -f $tree/.complete ]]; then
  rm -rf "$tree" "$cache/debs"
  mkdir -p "$cache/debs" "$tree"
  # apt-get download writes into the current directory; _apt cannot write a
  # root-owned cache, hence the chmod.
  chmod 0777 "$cache/debs"
  (cd "$cache/debs" && { apt-get download -qq "${pkgs[@]}" 2>/dev/null ||
                         { apt-get update -qq && apt-get download -qq "${pkgs[@]}"; }; })
  for d in "$cache"/debs/*.deb; do dpkg-deb -x "$d" "$tree"; done
  depmod -b "$tree" "$kver"
  touch "$tree/.complete"
fi
kernel="$tree/boot/vmlinuz-$kver"
[[ -f $kernel ]] || { echo "no kernel in $tree" >&2; exit 1; }

# --- the initramfs -------------------------------------------------------------
ir="$work/initramfs"
mkdir -p "$ir"/{bin,dev,proc,sys,mnt,run,tmp,etc,lib/modules,lib64,lib/x86_64-linux-gnu,sbin,var/lib/iscsi}
cp "$tree/bin/busybox" "$ir/bin/busybox"
# Modules in the order modprobe would load them, each once.
mods=(ata_piix sd_mod e1000 iscsi_tcp iscsi_ibft crc32c_generic vfat nls_ascii nls_cp437)
: >"$ir/lib/modules/order"
for m in "${mods[@]}"; do
  modprobe -d "$tree" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  base=$(basename "$ko")
  cp "$ko" "$ir/lib/modules/$base"
  echo "$base" >>"$ir/lib/modules/order"
done
# iscsistart and the libraries it links (from this machine's Debian 12).
iscsistart=$(find "$tree" -name iscsistart -type f | head -1)
[[ -n $iscsistart ]] || { echo "iscsistart not found in open-iscsi's package" >&2; exit 1; }
cp "$iscsistart" "$ir/sbin/iscsistart"
LD_LIBRARY_PATH="$tree/usr/lib/x86_64-linux-gnu:$tree/lib/x86_64-linux-gnu" ldd "$iscsistart" |
  awk '/=>/ {print $3} /ld-linux/ && !/=>/ {print $1}' | while read -r lib; do
    [[ -f $lib ]] || { echo "iscsistart needs $lib, not found" >&2; exit 1; }
    case $lib in
      */ld-linux-x86-64.so.2) cp -L "$lib" "$ir/lib64/ld-linux-x86-64.so.2" ;;
      *) cp -L "$lib" "$ir/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
    esac
  done
cp "$root/scripts/lib/linux-init.sh" "$ir/init"
chmod 0755 "$ir/init" "$ir/bin/busybox" "$ir/sbin/iscsistart"
sha256sum "$kernel" | awk '{print $1}' >"$ir/etc/vsl-kernel.sha256"
echo "$kver" >"$ir/etc/vsl-kernel.version"
find "$ir" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$ir" && find . -mindepth 1 | sort | cpio --quiet -o -H newc --reproducible -R 0:0) | gzip -n -9 >"$work/initrd.img"

# --- the FAT partition ------------------------------------------------------------
part_start=2048  # sectors: 1 MiB
total=$((size_mib * 2048))
part_sectors=$((total - part_start))
part="$work/part.img"
mkfs.fat -C -F 16 -n VSLLINUX --invariant -h "$part_start" "$part" $((part_sectors / 2)) >/dev/null
files="$work/files"
mkdir -p "$files/vsl"
cp "$kernel" "$files/vmlinuz"
cp "$work/initrd.img" "$files/initrd.img"
sha256sum "$work/initrd.img" | awk '{print $1}' >"$files/vsl/initrd.sha256"
cat >"$files/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND console=ttyS0,115200 loglevel=3 panic=-1 vsl.then=$then_mode
EOF
find "$files" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mmd -i "$part" ::/vsl
mcopy -i "$part" -m "$files/vmlinuz" "$files/initrd.img" "$files/syslinux.cfg" ::/
mcopy -i "$part" -m "$files/vsl/initrd.sha256" ::/vsl/
syslinux --install "$part"

# --- the disk: MBR, one partition, the file system ------------------------------------
truncate -s 0 "$work/disk.img"
truncate -s $((total * 512)) "$work/disk.img"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$work/disk.img" conv=notrunc status=none
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
{
  # bootable, CHS fields unused (0xfe,0xff,0xff as LBA-only), type 0x06 FAT16
  printf '\x80\xfe\xff\xff\x06\xfe\xff\xff'
  le32 "$part_start"
  le32 "$part_sectors"
} | dd of="$work/disk.img" bs=1 seek=446 conv=notrunc status=none
printf '\x56\x53\x4c\x31' | dd of="$work/disk.img" bs=1 seek=440 conv=notrunc status=none  # disk id "VSL1"
printf '\x55\xaa' | dd of="$work/disk.img" bs=1 seek=510 conv=notrunc status=none
dd if="$part" of="$work/disk.img" bs=1M seek=1 conv=notrunc,sparse status=none
mv "$work/disk.img" "$out"
echo "linux image: $out ($size_mib MiB, kernel $kver, then $then_mode, sha256 $(sha256sum "$out" | cut -c1-16))"
