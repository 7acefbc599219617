#!/usr/bin/env bash
# QEMU boots from LUN 0 over iSCSI: each of two hosts boots its own disk (a
# boot sector from scripts/make-boot-image.sh that prints the label stored in
# the disk's sector 1 to COM1), logging in with its initiator name and CHAP
# secret through `-iscsi initiator-name=...,user=...,password=...`. web2's
# boot disk sits at an offset inside a larger file, after a second extent.
#
# Usage: boot.sh [VSL_BIN]     (E2E_TARGET=tgt runs it against tgtd)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/common.sh"
source "$here/../lib/target.sh"
e2e_init 400
target_use_args "$@"

ROOT=$(cd "$here/../.." && pwd)
token=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
M=$((1024 * 1024))
"$ROOT/scripts/make-boot-image.sh" "$E2E_TMP/web1.img" "web1 $token" 2M
"$ROOT/scripts/make-boot-image.sh" "$E2E_TMP/web2-boot.img" "web2 $token" 1M
# web2's disk: 1 MiB of boot image at offset 3 MiB of a bigger file, then 1 MiB
# of another file.
truncate -s $((5 * M)) "$E2E_TMP/web2-pool.img"
dd if="$E2E_TMP/web2-boot.img" of="$E2E_TMP/web2-pool.img" bs=1M seek=3 conv=notrunc status=none
truncate -s $((M)) "$E2E_TMP/web2-tail.img"
cat >"$E2E_TMP/farm.json" <<JSON
{ "iqn_prefix": "iqn.2026-11.org.vsl",
  "hosts": [
    { "name": "web1", "initiator": "iqn.2026-11.org.example:web1",
      "chap": {"user": "web1", "secret": "web1-boot-secret"},
      "luns": [ { "lun": 0, "extents": [ {"path": "$E2E_TMP/web1.img", "offset": 0, "length": $((2 * M))} ] } ] },
    { "name": "web2", "initiator": "iqn.2026-11.org.example:web2",
      "chap": {"user": "web2", "secret": "web2-boot-secret"},
      "luns": [ { "lun": 0, "extents": [
        {"path": "$E2E_TMP/web2-pool.img", "offset": $((3 * M)), "length": $M},
        {"path": "$E2E_TMP/web2-tail.img", "offset": 0, "length": $M} ] } ] } ] }
JSON
target_start "$E2E_TMP/farm.json"

accel=tcg
if [[ -r /dev/kvm && -w /dev/kvm ]]; then accel=kvm:tcg; fi

# boot HOST SECRET: boots HOST's LUN 0; prints the serial console; true when
# the expected line appeared within 90 s.
boot() {
  local host=$1 secret=$2 serial="$E2E_TMP/serial-$1.log" qpid rc=0
  rm -f "$serial"
  qemu-system-x86_64 -display none -no-user-config -nodefaults \
    -machine "accel=$accel" -m 64 -serial "file:$serial" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -iscsi "initiator-name=iqn.2026-11.org.example:$host,user=$host,password=$secret" \
    -drive "file=iscsi://$TARGET_PORTAL/$(target_name "$host")/$(target_lun 0),if=ide,format=raw" \
    -boot c >"$E2E_TMP/qemu-$host.log" 2>&1 &
  qpid=$!
  disown "$qpid"
  e2e_on_exit "stop_pid $qpid 2 KILL"
  # The line is complete once its CR is there (QEMU may still be writing it).
  wait_for_file_line "$serial" $'^vsl-boot: booted disk of .*\r' 90 "$qpid" || rc=1
  stop_pid "$qpid" 2 KILL || true
  echo "serial console of $host:"
  if [[ -f "$serial" ]]; then tr -d '\r' <"$serial" | sed 's/^/  | /'; else echo "  (none)"; fi
  echo "qemu output:"
  sed 's/^/  | /' "$E2E_TMP/qemu-$host.log"
  return $rc
}

log "boot web1 (accel $accel)"
check "QEMU as web1 boots LUN 0 and prints its line" boot web1 web1-boot-secret
check "web1 booted its own disk" grep -qa "^vsl-boot: booted disk of web1 $token" "$E2E_TMP/serial-web1.log"
log "boot web2"
check "QEMU as web2 boots LUN 0 and prints its line" boot web2 web2-boot-secret
check "web2 booted its own disk" grep -qa "^vsl-boot: booted disk of web2 $token" "$E2E_TMP/serial-web2.log"
log "web1 with web2's secret does not boot"
check_not "QEMU as web1 with a wrong secret boots nothing" boot web1 web2-boot-secret

e2e_finish
