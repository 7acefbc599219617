#!/usr/bin/env bash
# A boot storm of real QEMU hosts through the gateway's read cache (issue 12).
# On a throw-away Ceph cluster (tests/lib/ceph.sh), `vsl serve --cache` with
# `--power qemu-direct` boots farms whose LUN 0 disks are RBD clones of one
# real Linux image (scripts/make-linux-image.sh --then poweroff): each guest
# boots through QEMU's own initiator, checks its kernel and initramfs read
# back with their checksums, writes its boot counter, prints its
# "vsl-linux: up" line and powers off.
#   1. storm: N servers (4; BOOTSTORM_HOSTS) with cache=read, powered on at
#      once by one apply, on a cold cache;
#   2. one: a single server with cache=none, alone: one host's boot reads;
#   3. control: N servers with cache=none, at once.
# Every host boots; the bytes the gateway asked of the cluster for the N
# cached hosts together (the units' backend_read_bytes) are under
# (N/2) x one host's boot reads, while the control's N hosts read about
# N x (at least (N - 1/2) x): a cache that shared nothing would fail the
# first check, and a measure that counted nothing the second. FIGURE lines
# give the bytes and the ratios.
#   bootstorm.sh VSL
set -uo pipefail
VSL=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../farm/lib.sh"
source "$HERE/../lib/ceph.sh"
e2e_init "${BOOTSTORM_DEADLINE:-300}"

N=${BOOTSTORM_HOSTS:-4}
# TCG, as tests/farm/linux_hosts.sh boots its Linux hosts: on this machine
# /dev/kvm opens but a guest stops at its first instruction KVM cannot
# emulate (syslinux's), so kvm:tcg would not fall back.
# BOOTSTORM_ACCEL=kvm where KVM works.
accel=${BOOTSTORM_ACCEL:-tcg}
# Seconds a group of hosts has to boot: a TCG guest takes several times longer.
BOOT_WAIT=${BOOTSTORM_BOOT_WAIT:-$([[ $accel == tcg ]] && echo 240 || echo 90)}

ceph_e2e_start
img=$E2E_TMP/linux.img
check "make-linux-image.sh builds the image" "$ROOT/scripts/make-linux-image.sh" "$img" --then poweroff
# The default file array holds the image's master; r1 gets a copy, and the
# boot disks are clones of that copy.
FARM_CAPACITY=64MiB farm_serve "$E2E_TMP/data" --power qemu-direct --qemu-accel "$accel" --cache 256MiB
log "vsl serve --cache 256MiB --power qemu-direct --qemu-accel $accel; $N hosts"
check "rbd array r1 added (class=performance)" v array add r1 --driver rbd --pool "$VSL_CEPH_POOL" \
  --ceph-conf "$VSL_CEPH_CONF" --ceph-user "$VSL_CEPH_USER" --keyring "$VSL_CEPH_KEYRING" \
  --capacity 4GiB --quality class=performance
check "import the Linux image" v image import linux "$img"

# farm_fml NAME SERVERS POLICY: a farm of SERVERS web servers booting clones
# of the image, with the cache policy POLICY on their boot disk.
farm_fml() {
  cat >"$E2E_TMP/$1.fml" <<FML
<?xml version="1.0"?>
<farm fmlversion="1.2" name="$1">
  <tier id="1" name="web">
    <role>web</role>
    <min-servers>1</min-servers>
    <max-servers>$2</max-servers>
    <init-servers>$2</init-servers>
  </tier>
  <server-role id="web" name="Web server">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="performance" drivesize="48MiB">
      <diskimage type="system">linux</diskimage>
      <attribute name="cache" value="$3"/>
    </disk>
  </server-role>
</farm>
FML
  echo "$E2E_TMP/$1.fml"
}

# all_up HOST...: waits (BOOT_WAIT seconds in all) until every HOST's console
# shows its first "vsl-linux: up" line; prints one line per host; fails when
# a host failed or did not get there.
all_up() {
  local i h line left=("$@") next bad=0
  for ((i = 0; i < BOOT_WAIT * 2 && ${#left[@]} > 0; i++)); do
    next=()
    for h in "${left[@]}"; do
      line=$(v host console "$h" 2>/dev/null | tr -d '\r' | grep -a -m1 '^vsl-linux: \(up\|FAILED\)')
      if [[ -z $line ]]; then
        next+=("$h")
      else
        echo "$h: $line"
        [[ $line == *" boots=1 "* ]] || bad=$((bad + 1))
      fi
    done
    left=("${next[@]}")
    ((${#left[@]} > 0)) && sleep 0.5
  done
  for h in "${left[@]}"; do
    echo "$h: no vsl-linux line after ${BOOT_WAIT}s: $(v host console "$h" 2>/dev/null | tr -d '\r' | tail -2)"
  done
  ((bad == 0 && ${#left[@]} == 0))
}

unit_of() { v host show "$1" --json | jq -r '.bindings[] | select(.lun == 0) | .volume_id'; }
stat_of() { v disk show "$1" --json | jq -r ".cache_stats.$2 // 0"; }

# boot_group PREFIX COUNT POLICY: hosts PREFIX1..PREFIXCOUNT, a farm PREFIX of
# them applied at once, waited for; sets UNITS (their boot disks) and
# prints nothing on success.
boot_group() {
  local p=$1 n=$2 pol=$3 i hosts=()
  for ((i = 1; i <= n; i++)); do
    add_host "$p$i" x86-vm || fail_now "host $p$i"
    hosts+=("$p$i")
  done
  check "farm $p ($n servers, cache=$pol) applied; all powered on at once" bash -c \
    "timeout 120 '$VSL' farm apply '$(farm_fml "$p" "$n" "$pol")' | grep -c 'power on' | grep -qx $n"
  check "every host of $p boots Linux from its clone (${hosts[*]})" all_up "${hosts[@]}"
  UNITS=()
  for h in "${hosts[@]}"; do UNITS+=("$(unit_of "$h")"); done
}
# sum_of FIELD: FIELD of cache_stats summed over UNITS.
sum_of() {
  local s=0 u
  for u in "${UNITS[@]}"; do s=$((s + $(stat_of "$u" "$1"))); done
  echo "$s"
}
clones_of_r1() {
  local master c=0 u
  master=$(v image show linux --json | jq '.masters[] | select(.array == "r1") | .volume_id')
  for u in "${UNITS[@]}"; do
    [[ $(v volume show "$u" --json | jq -r .clone_of) == "$master" ]] && c=$((c + 1))
  done
  echo "$c"
}
MiB() { python3 -c "print(f'{$1 / 1048576:.1f} MiB')"; }

log "1. the storm: $N hosts with cache=read, at once, on a cold cache"
t0=$(date +%s%N)
boot_group s "$N" read
t1=$(date +%s%N)
check_eq "all $N boot disks are clones of r1's copy of the image" "$N" "$(clones_of_r1)"
STORM=$(sum_of backend_read_bytes)
STORM_HITS=$(sum_of hits)
STORM_MISSES=$(sum_of misses)
PER=()
for u in "${UNITS[@]}"; do PER+=("$(stat_of "$u" backend_read_bytes)"); done
log "storm: backend_read_bytes per host: ${PER[*]}; hits $STORM_HITS, misses $STORM_MISSES"
check "the cached hosts were served from the cache ($STORM_HITS hits)" test "$STORM_HITS" -gt 0

log "2. one host with cache=none, alone"
boot_group o 1 none
ONE=$(sum_of backend_read_bytes)
check_eq "a host with cache=none has no hits" 0 "$(sum_of hits)"
# The guest reads at least its kernel and initramfs (the BIOS loads them,
# then Linux checks their checksums).
KI=$(($(MTOOLS_SKIP_CHECK=1 mcopy -i "$img@@1M" ::/vmlinuz - | wc -c) + $(MTOOLS_SKIP_CHECK=1 mcopy -i "$img@@1M" ::/initrd.img - | wc -c)))
check "one host's boot read at least its kernel and initramfs from the cluster ($ONE >= $KI bytes)" test "$ONE" -ge "$KI"

log "3. the control: $N hosts with cache=none, at once"
t2=$(date +%s%N)
boot_group c "$N" none
t3=$(date +%s%N)
CONTROL=$(sum_of backend_read_bytes)

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
echo "FIGURE bootstorm one host (cache=none, alone): its boot read $ONE bytes ($(MiB "$ONE")) from the cluster"
echo "FIGURE bootstorm $N hosts cache=read at once: the cluster was asked for $STORM bytes ($(MiB "$STORM"))" \
  "against $N x one host's $ONE = $((N * ONE)): $(ratio "$STORM" "$ONE") x one host's boot reads," \
  "$(python3 -c "print(f'{$STORM * 100 / ($N * $ONE):.0f}')") % of $N x; all up in $(((t1 - t0) / 1000000)) ms"
echo "FIGURE bootstorm $N hosts cache=none at once (control): $CONTROL bytes ($(MiB "$CONTROL")):" \
  "$(ratio "$CONTROL" "$ONE") x one host's boot reads; all up in $(((t3 - t2) / 1000000)) ms"
check "the cached storm read under $N/2 x one host's boot reads from the cluster ($STORM < $((N * ONE / 2)))" \
  test $((2 * STORM)) -lt $((N * ONE))
check "the control read about $N x (at least $N - 1/2 x one host's: $CONTROL >= $(((2 * N - 1) * ONE / 2)))" \
  test $((2 * CONTROL)) -ge $(((2 * N - 1) * ONE))
check "serve stops" farm_serve_stop
e2e_finish
