#!/usr/bin/env bash
# A boot storm of real QEMU hosts through the gateway's read cache (issue 12).
# On a throw-away Ceph cluster (tests/lib/ceph.sh), `vsl serve --cache` with
# `--power qemu-direct` boots one farm whose LUN 0 disks are RBD clones of
# one real Linux image (scripts/make-linux-image.sh --then poweroff): each
# guest boots through QEMU's own initiator (SeaBIOS and syslinux read its
# kernel and initramfs 512 bytes at a time, then Linux checks both against
# their checksums), writes its boot counter, prints its "vsl-linux: up"
# line and powers off. One apply powers on, at once:
#   - N servers (3; BOOTSTORM_HOSTS) whose boot disk has cache=read, and
#   - M servers (N/2; BOOTSTORM_CONTROL) whose boot disk has cache=none: each
#     reads one host's boot reads from the cluster, about N x for N of them.
# Checks: every host boots; the cache=none hosts read at least the kernel
# and initramfs, about the same bytes each (so their least is one host's
# boot reads, B1); the N cached hosts together asked the cluster for under
# (N/2) x B1 (a cache that shared nothing would read N x). FIGURE lines give
# the bytes and the ratios.
#   bootstorm.sh VSL
set -uo pipefail
VSL=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../farm/lib.sh"
source "$HERE/../lib/ceph.sh"
e2e_init "${BOOTSTORM_DEADLINE:-480}"

N=${BOOTSTORM_HOSTS:-3}
M=${BOOTSTORM_CONTROL:-$(((N + 1) / 2))}
((N >= 2 && M >= 1)) || { echo "BOOTSTORM_HOSTS must be at least 2 and BOOTSTORM_CONTROL at least 1" >&2; exit 2; }
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
log "vsl serve --cache 256MiB --power qemu-direct --qemu-accel $accel"
check "rbd array r1 added (class=performance)" v array add r1 --driver rbd --pool "$VSL_CEPH_POOL" \
  --ceph-conf "$VSL_CEPH_CONF" --ceph-user "$VSL_CEPH_USER" --keyring "$VSL_CEPH_KEYRING" \
  --capacity 4GiB --quality class=performance
check "import the Linux image" v image import linux "$img"

# The farm: tier "cached" of N servers with cache=read on their boot disk,
# tier "plain" of M servers with cache=none; both boot clones of the image.
cat >"$E2E_TMP/storm.fml" <<FML
<?xml version="1.0"?>
<farm fmlversion="1.2" name="storm">
  <tier id="1" name="cached">
    <role>cached</role>
    <min-servers>1</min-servers>
    <max-servers>$N</max-servers>
    <init-servers>$N</init-servers>
  </tier>
  <tier id="2" name="plain">
    <role>plain</role>
    <min-servers>1</min-servers>
    <max-servers>$M</max-servers>
    <init-servers>$M</init-servers>
  </tier>
  <server-role id="cached" name="Cached">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="performance" drivesize="48MiB">
      <diskimage type="system">linux</diskimage>
      <attribute name="cache" value="read"/>
    </disk>
  </server-role>
  <server-role id="plain" name="Plain">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="performance" drivesize="48MiB">
      <diskimage type="system">linux</diskimage>
      <attribute name="cache" value="none"/>
    </disk>
  </server-role>
</farm>
FML

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
stat_of() { v disk show "$1" --json | jq -r ".cache_stats.$2"; }
MiB() { python3 -c "print(f'{$1 / 1048576:.1f} MiB')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

HOSTS=()
for ((i = 1; i <= N + M; i++)); do
  add_host "h$i" x86-vm || fail_now "host h$i"
  HOSTS+=("h$i")
done
log "one apply powers on $((N + M)) hosts: $N with cache=read, $M with cache=none"
t0=$(date +%s%N)
check "farm storm applied: $((N + M)) hosts powered on" bash -c \
  "timeout 120 '$VSL' farm apply '$E2E_TMP/storm.fml' >'$E2E_TMP/apply.out' && [[ \$(grep -c 'power on' '$E2E_TMP/apply.out') -eq $((N + M)) ]]"
check "every host boots Linux from its clone (${HOSTS[*]})" all_up "${HOSTS[@]}"
t1=$(date +%s%N)

MASTER=$(v image show linux --json | jq '.masters[] | select(.array == "r1") | .volume_id')
CACHED=() PLAIN=()
clones=0
for h in "${HOSTS[@]}"; do
  u=$(unit_of "$h")
  [[ $(v volume show "$u" --json | jq -r .clone_of) == "$MASTER" ]] && clones=$((clones + 1))
  case $(stat_of "$u" reads_cached) in
    true) CACHED+=("$u") ;;
    false) PLAIN+=("$u") ;;
  esac
done
check_eq "all $((N + M)) boot disks are clones of r1's copy of the image" "$((N + M))" "$clones"
check_eq "$N boot disks read through the cache, $M around it" "$N $M" "${#CACHED[@]} ${#PLAIN[@]}"

# field FIELD UNIT...: FIELD of cache_stats per unit, one line each.
field() {
  local f=$1 u
  shift
  for u in "$@"; do stat_of "$u" "$f"; done
}
sum() { awk '{s += $1} END {print s + 0}'; }
STORM=$(field backend_read_bytes "${CACHED[@]}" | sum)
HITS=$(field hits "${CACHED[@]}" | sum)
PLAIN_READS=$(field backend_read_bytes "${PLAIN[@]}")
B1=$(sort -n <<<"$PLAIN_READS" | head -1)
BMAX=$(sort -n <<<"$PLAIN_READS" | tail -1)
CONTROL=$(sum <<<"$PLAIN_READS")
log "cache=read hosts: backend_read_bytes $(field backend_read_bytes "${CACHED[@]}" | tr '\n' ' ')hits $HITS," \
  "misses $(field misses "${CACHED[@]}" | sum); cache=none hosts: $(tr '\n' ' ' <<<"$PLAIN_READS")"
check "the cached hosts were served from the cache ($HITS hits)" test "$HITS" -gt 0
check_eq "the cache=none hosts had no hits" 0 "$(field hits "${PLAIN[@]}" | sum)"
# The guest reads at least its kernel and initramfs (the BIOS loads them,
# then Linux checks their checksums).
KI=$(($(MTOOLS_SKIP_CHECK=1 mcopy -i "$img@@1M" ::/vmlinuz - | wc -c) + $(MTOOLS_SKIP_CHECK=1 mcopy -i "$img@@1M" ::/initrd.img - | wc -c)))
check "a cache=none host's boot reads at least its kernel and initramfs from the cluster ($B1 >= $KI bytes)" \
  test "${B1:-0}" -ge "$KI"
check "the cache=none hosts read about the same each ($B1 >= 0.9 x $BMAX): one host's boot reads" \
  test $((10 * ${B1:-0})) -ge $((9 * ${BMAX:-0}))

echo "FIGURE bootstorm one host's boot reads (cache=none, in the storm): $B1 bytes ($(MiB "$B1")) from the cluster"
echo "FIGURE bootstorm $N hosts cache=read at once: the cluster was asked for $STORM bytes ($(MiB "$STORM"))" \
  "against $N x one host's $B1 = $((N * B1)): $(ratio "$STORM" "$B1") x one host's boot reads," \
  "$(python3 -c "print(f'{$STORM * 100 / ($N * $B1):.0f}')") % of $N x"
echo "FIGURE bootstorm $M hosts cache=none beside them: $CONTROL bytes ($(MiB "$CONTROL")):" \
  "$(ratio "$CONTROL" "$B1") x one host's boot reads; all $((N + M)) up in $(((t1 - t0) / 1000000)) ms (accel $accel)"
check "the $N cached hosts read under $N/2 x one host's boot reads from the cluster ($STORM < $((N * B1 / 2)))" \
  test $((2 * STORM)) -lt $((N * B1))
check "serve stops" farm_serve_stop
e2e_finish
