#!/bin/busybox sh
# The init of the image scripts/make-linux-image.sh builds (runs as PID 1 from
# the initramfs). It proves the host runs from its vsl disk:
#   1. loads the modules for both boot paths (IDE through QEMU's initiator; or
#      e1000 + iscsi_tcp + iscsi_ibft, then logs in again with iscsistart from
#      the iBFT the NIC's firmware left);
#   2. finds its boot disk: the first disk, in SCSI address order, holding the
#      partition labelled VSLLINUX;
#   3. checks the kernel it booted reads back with the SHA-256 recorded at
#      build time, and the initramfs with the one on the disk;
#   4. counts its boots in vsl/boots on that disk, writes vsl/host (a random id
#      made at its first boot) and reads both back after a sync and a cache drop;
#   5. prints "vsl-linux: up ..." (or "vsl-linux: FAILED <why>"), then stays up
#      or powers off as vsl.then= on the kernel command line says.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 >/proc/sys/kernel/printk

say() { echo "vsl-linux: $*" >/dev/console; }
finish() {
  sync
  case " $(cat /proc/cmdline) " in
    *" vsl.then=poweroff "*) umount /mnt 2>/dev/null; poweroff -f ;;
  esac
  while :; do sleep 3600; done
}
fail() { say "FAILED $*"; finish; }

for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m" 2>/dev/null; done

initiator=-
if [ -d /sys/firmware/ibft/initiator ]; then
  initiator=$(cat /sys/firmware/ibft/initiator/initiator-name 2>/dev/null)
  say "iBFT from the firmware: initiator $initiator"
  for n in /sys/class/net/*; do ip link set "$(basename "$n")" up; done
  iscsistart -N >/dev/null 2>&1 || fail "iscsistart -N (network from the iBFT)"
  iscsistart -b >/tmp/iscsistart.log 2>&1 || fail "iscsistart -b: $(tail -1 /tmp/iscsistart.log)"
  say "kernel initiator logged in"
fi

# The boot disk: wait up to 30 s for the labelled partition to appear.
disk= part=
i=0
while [ $i -lt 60 ]; do
  for addr in $(ls /sys/bus/scsi/devices 2>/dev/null | grep -E '^[0-9]+:[0-9]+:[0-9]+:[0-9]+$' | sort -t: -k1,1n -k2,2n -k3,3n -k4,4n); do
    for b in /sys/bus/scsi/devices/$addr/block/*; do
      [ -e "$b" ] || continue
      d=$(basename "$b")
      for p in /dev/${d}1; do
        [ -b "$p" ] || continue
        # the FAT16 volume label: 11 bytes at offset 43 of the boot sector
        [ "$(dd if="$p" bs=1 skip=43 count=8 2>/dev/null)" = VSLLINUX ] && disk=$d part=$p lun=$addr
      done
      [ -n "$disk" ] && break 3
    done
  done
  i=$((i + 1))
  sleep 0.5
done
[ -n "$disk" ] || fail "no disk with a VSLLINUX partition (disks: $(ls /sys/block | tr '\n' ' '))"

mount -t vfat -o rw,iocharset=ascii "$part" /mnt || fail "mount $part"
want=$(cat /etc/vsl-kernel.sha256)
got=$(sha256sum /mnt/vmlinuz | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "kernel on $part reads back as $got, built as $want"
want=$(cat /mnt/vsl/initrd.sha256)
got=$(sha256sum /mnt/initrd.img | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "initramfs on $part reads back as $got, recorded $want"

boots=$(cat /mnt/vsl/boots 2>/dev/null || echo 0)
boots=$((boots + 1))
if [ ! -s /mnt/vsl/host ]; then
  head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' >/mnt/vsl/host
fi
echo "$boots" >/mnt/vsl/boots
id=$(cat /mnt/vsl/host)
sync
umount /mnt || fail "umount $part"
echo 3 >/proc/sys/vm/drop_caches
mount -t vfat -o rw,iocharset=ascii "$part" /mnt || fail "mount $part again"
[ "$(cat /mnt/vsl/boots)" = "$boots" ] || fail "vsl/boots reads back as $(cat /mnt/vsl/boots), wrote $boots"
[ "$(cat /mnt/vsl/host)" = "$id" ] || fail "vsl/host reads back wrong"

disks=
for b in /sys/block/sd*; do
  [ -e "$b" ] || continue
  d=$(basename "$b")
  disks="$disks $d:$(( $(cat "$b/size") / 2048 ))M"
done
say "up disk=$disk scsi=$lun kernel=ok boots=$boots id=$id initiator=$initiator disks=${disks# }"
finish
