#!/usr/bin/env bash
# Real hosts: the two-tier farm's four servers run a real Linux
# (scripts/make-linux-image.sh, --then poweroff) from their vsl disks.
#   * `--power qemu`: each VM's NIC firmware (iPXE) fetches the boot script vsl
#     wrote for it, logs in with the host's CHAP secret and sanboots LUN 0; the
#     kernel then logs in again with iscsistart from the iBFT. Every host of
#     both roles prints its "vsl-linux: up" line with its own initiator name.
#   * what each guest wrote is on its disk, read afterwards through a new
#     session; a second host of a role never sees the first one's writes; a
#     reboot (the next apply powers the stopped VM on) finds the boot counter.
#   * `--power qemu-direct` after a restart of serve: QEMU's own initiator
#     boots the same disks, which count a third boot.
#   * a boot script with a wrong CHAP secret: the firmware's login is refused,
#     the guest never runs, and the gateway's log says why.
#   linux_hosts.sh VSL
set -uo pipefail
VSL=$(realpath "$1")
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/lib.sh"
e2e_init 900
export MTOOLS_SKIP_CHECK=1

hosts=(h1web h2web h3db h4db)

# host_up HOST BOOTS [SECONDS]: waits for HOST's console to show Linux up for
# the BOOTS-th time, or a failure line; prints the line.
host_up() {
  local h=$1 boots=$2 i line
  for ((i = 0; i < ${3:-240} * 2; i++)); do
    line=$(v host console "$h" 2>/dev/null | tr -d '\r' | grep -a -m1 '^vsl-linux: \(up\|FAILED\)')
    if [[ $line == *FAILED* || $line == *" boots=$boots "* ]]; then
      echo "$line"
      [[ $line != *FAILED* ]]
      return
    fi
    sleep 0.5
  done
  echo "no vsl-linux line after ${3:-240}s: $(v host console "$h" 2>/dev/null | tail -3)"
  return 1
}

# field LINE KEY: KEY's value in a "vsl-linux: up k=v ..." line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# vm_gone HOST: waits until HOST's VM has exited (the image powers off).
vm_gone() {
  local i
  for ((i = 0; i < 120; i++)); do
    pgrep -f -- "-name $1 " >/dev/null || return 0
    sleep 0.5
  done
  return 1
}

# disk_file HOST OUT: HOST's LUN 0 copied through a new session.
disk_file() {
  qemu-img convert -O raw --object "secret,id=s0,data=secret-of-$1-0123" --image-opts \
    "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$1,lun=0,initiator-name=iqn.2026-11.org.example:$1,user=$1,password-secret=s0" \
    "$2"
}

log "the image"
img=$E2E_TMP/linux.img
check "make-linux-image.sh builds it" "$ROOT/scripts/make-linux-image.sh" "$img" --then poweroff
check "a second build gives the same bytes" bash -c \
  "'$ROOT/scripts/make-linux-image.sh' '$E2E_TMP/again.img' --then poweroff >/dev/null && cmp '$img' '$E2E_TMP/again.img'"
rm -f "$E2E_TMP/again.img"

log "four hosts boot Linux through their NIC's firmware (--power qemu)"
data=$E2E_TMP/data
farm_serve "$data" --power qemu
for h in "${hosts[@]}"; do add_host "$h" x86-vm; done
check "the raid=0+1 array" v array add mirror --driver file --path "$E2E_TMP/mirror" --capacity 1GiB --quality raid=0+1
check "import the Linux image" v image import linux "$img"
two=$(fml_copy "$ROOT/examples/two-tier.fml" two-tier 's/>demo</>linux</')
check "apply two-tier" v farm apply "$two"
declare -A id
for h in "${hosts[@]}"; do
  line=$(host_up "$h" 1)
  check "$h runs Linux from its LUN 0 ($line)" test $? -eq 0
  [[ $line == *" boots=1 "* ]] || continue
  check_eq "$h's kernel logged in with the firmware's initiator name" "$(field "$line" initiator)" \
    "iqn.2026-11.org.example:$h"
  check_eq "$h read back its kernel" "$(field "$line" kernel)" ok
  id[$h]=$(field "$line" id)
done
for h in h3db h4db; do
  check "$h sees the shared 32 MiB disk" bash -c "'$VSL' host console $h | grep -a '^vsl-linux: up' | grep -q ' sdb:32M'"
done
check_not "h1web has no second disk" bash -c "'$VSL' host console h1web | grep -a '^vsl-linux: up' | grep -q 'sdb:'"
check "firmware and kernel both logged in as h1web (two sessions)" bash -c \
  "[[ \$(grep -c 'login of iqn.2026-11.org.example:h1web ' '$SERVE_LOG') -ge 2 ]]"
check_eq "h1web's boot script is the host's alone (0600)" "$(stat -c %a "$data/boot/h1web/boot.ipxe")" 600
check "it sanboots LUN 0 of h1web's target" grep -q "^sanboot iscsi:10.0.2.2::${PORTAL##*:}:0:iqn.2026-11.org.vsl:h1web$" \
  "$data/boot/h1web/boot.ipxe"
check_ne "the two web servers made different disks" "${id[h1web]:-a}" "${id[h2web]:-a}"

log "what the guests wrote, through a new session"
for h in h1web h2web; do
  check "$h's VM powered off" vm_gone "$h"
  check "$h's LUN 0 copied" disk_file "$h" "$E2E_TMP/$h.raw"
  check_eq "$h's disk counts 1 boot" "$(mtype -i "$E2E_TMP/$h.raw@@1M" ::/vsl/boots 2>&1 | tr -d '\r\n')" 1
  check_eq "$h's disk holds its own id" "$(mtype -i "$E2E_TMP/$h.raw@@1M" ::/vsl/host 2>&1 | tr -d '\r\n')" "${id[$h]:-}"
done

log "a reboot finds what the host wrote before"
for h in "${hosts[@]}"; do vm_gone "$h"; done
check "the next apply powers the stopped hosts on again" bash -c "'$VSL' farm apply '$two' | grep -q 'power on'"
for h in "${hosts[@]}"; do
  line=$(host_up "$h" 2)
  check "$h boots a second time ($line)" test $? -eq 0
  check_eq "$h keeps its own id" "$(field "$line" id)" "${id[$h]:-}"
done

log "the same disks through QEMU's own initiator (--power qemu-direct)"
for h in "${hosts[@]}"; do vm_gone "$h"; done
check "serve stops" farm_serve_stop
farm_serve "$data" --power qemu-direct
check "apply powers the hosts on through QEMU's initiator" bash -c "'$VSL' farm apply '$two' | grep -q 'power on'"
for h in h1web h3db; do
  line=$(host_up "$h" 3)
  check "$h boots a third time, from QEMU's initiator ($line)" test $? -eq 0
  check_eq "no iBFT: the disk came from QEMU" "$(field "$line" initiator)" -
  check_eq "$h keeps its own id" "$(field "$line" id)" "${id[$h]:-}"
done

log "a wrong CHAP secret in the boot script"
# h1web's script from the first serve, with this serve's port and a wrong secret.
mkdir -p "$E2E_TMP/tftp"
sed -e "s/^set password .*/set password wrong-secret-0000/" -e "s/::[0-9]*:0:/::${PORTAL##*:}:0:/" \
  "$data/boot/h1web/boot.ipxe" >"$E2E_TMP/tftp/boot.ipxe"
printf '\xf8\x03' >"$E2E_TMP/sercon"
timeout 120 qemu-system-x86_64 -machine accel=tcg -m 256 -display none -no-user-config -nodefaults \
  -serial "file:$E2E_TMP/wrong.log" -netdev "user,id=n0,tftp=$E2E_TMP/tftp,bootfile=boot.ipxe" \
  -device e1000,netdev=n0 -boot order=n,reboot-timeout=1000 -no-reboot \
  -fw_cfg "name=etc/sercon-port,file=$E2E_TMP/sercon" >"$E2E_TMP/wrong.qemu" 2>&1
check_ne "the VM ends by itself (QEMU exit status 0, not the timeout's 124)" "$?" 124
check "the firmware says its sanboot was not permitted" grep -aq "Could not open SAN device: Operation not permitted" "$E2E_TMP/wrong.log"
check_not "Linux never ran" grep -aq "vsl-linux" "$E2E_TMP/wrong.log"
check "the gateway logged why it refused the login" grep -q "login failed: CHAP response of h1web is wrong" "$SERVE_LOG"

check "destroy two-tier" v farm destroy two-tier
check "serve stops" farm_serve_stop
e2e_finish
