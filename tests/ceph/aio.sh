#!/usr/bin/env bash
# The gateway's RBD I/O is asynchronous (issue 9): a `vsl gateway` with ONE
# I/O thread serves an RBD LUN and a LUN that is a meta volume of a file and
# an RBD image, on a throw-away Ceph cluster (tests/lib/ceph.sh). qemu-img
# bench drives each at queue depth 32 (reads, writes, FUA writes, writes with
# SYNCHRONIZE CACHE), qemu-io sends UNMAP and WRITE SAME; every run
# completes, the bytes land where they belong (the image as another Ceph
# client reads it; the file member), and on stop
# the gateway reports that many librbd calls were in flight at once: a
# gateway whose RBD calls held an I/O thread until the cluster answered
# could never have more in flight than its one thread.
# The gateway's librbd settings (docs/ceph.md) are read back from its cluster
# handle's admin socket.
# Usage: aio.sh VSL
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../lib/ceph.sh"
e2e_init 240

# The fewest librbd calls in flight at once the runs must show; the old
# synchronous gateway, with one I/O thread, shows 1.
MIN_IN_FLIGHT=8
KiB=1024
MiB=$((1 << 20))

ceph_e2e_start
admin_rbd() { ceph_admin_rbd "$@"; }
check "a 64 MiB RBD image made" admin_rbd create --size 64M aio
check "a 16 MiB RBD image made (the meta volume's second member)" admin_rbd create --size 16M meta
# The meta LUN: 1028 KiB of file, then 15 MiB - 4 KiB of image = 16 MiB;
# 16 KiB requests cross the members' boundary at 1028 KiB.
FILE_LEN=$((1028 * KiB))
RBD_LEN=$((16 * MiB - FILE_LEN))
make_file "$E2E_TMP/member.img" "$FILE_LEN"

jq -n --arg pool "$VSL_CEPH_POOL" --arg conf "$VSL_CEPH_CONF" --arg user "$VSL_CEPH_USER" \
  --arg keyring "$VSL_CEPH_KEYRING" --arg file "$E2E_TMP/member.img" \
  --argjson flen "$FILE_LEN" --argjson rlen "$RBD_LEN" '
  ({pool: $pool, conf: $conf, user: $user, keyring: $keyring}) as $c |
  {listen: "127.0.0.1:0", nop_interval: 0, io_threads: 1, hosts: [
    {name: "aio", initiator: "iqn.2026-11.org.example:aio", allow_no_auth: true,
     luns: [{lun: 0, extents: [{rbd: ($c + {image: "aio"}), length: 67108864}]},
            {lun: 1, extents: [{path: $file, length: $flen}, {rbd: ($c + {image: "meta"}), length: $rlen}]}]}]}' \
  >"$E2E_TMP/gw.json"
gateway_up "$VSL" "$E2E_TMP/gw.json" gw
# The librbd settings of the gateway's data path (docs/ceph.md), as its own
# cluster handle reports them on its admin socket (tests/lib/ceph.sh names
# client sockets after the process): aio starts in the calling thread, and
# no objecter budget can make that thread wait.
asok=""
for ((i = 0; i < 50; i++)); do
  asok=$(compgen -G "$(dirname "$VSL_CEPH_CONF")/run/client.$VSL_CEPH_USER.$GW.*.asok" | head -1)
  [[ -n $asok ]] && break
  sleep 0.1
done
check_ne "the gateway's cluster handle has an admin socket" "$asok" ""
gw_conf() { ceph --admin-daemon "$asok" config get "$1" 2>/dev/null | jq -r ".$1"; }
check_eq "the gateway's librbd: rbd_non_blocking_aio" false "$(gw_conf rbd_non_blocking_aio)"
check_eq "... objecter_inflight_ops (no limit)" 0 "$(gw_conf objecter_inflight_ops)"
check_eq "... objecter_inflight_op_bytes (no limit)" 0 "$(gw_conf objecter_inflight_op_bytes)"
check_eq "... rbd_skip_partial_discard" false "$(gw_conf rbd_skip_partial_discard)"
opts() { echo "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:aio,lun=$1,initiator-name=iqn.2026-11.org.example:aio"; }
# qbench LUN ARGS...: one qemu-img bench run at queue depth 32; it must complete.
qbench() {
  local lun=$1
  shift
  timeout 120 qemu-img bench --image-opts "$(opts "$lun")" -d 32 -t none "$@" 2>&1 | tee /dev/stderr |
    grep -q '^Run completed in'
}
image_bytes() { admin_rbd export "$1" - 2>/dev/null; }
bytes_of() { head -c "$1" /dev/zero | tr '\0' "$2"; }  # N bytes of one value (octal)

# LUN 0: 4 KiB writes of 0x5a over the first 16 MiB (qemu-img bench walks
# the LUN sequentially), a SYNCHRONIZE CACHE every 256; then FUA
# writes (writethrough) of 0x6b over the first 2 MiB; then reads.
check "LUN 0: 4096 writes of 4 KiB at QD32 with SYNCHRONIZE CACHE complete" \
  qbench 0 -w -c 4096 -s 4k --pattern=0x5a --flush-interval=256
check "LUN 0: 512 FUA writes of 4 KiB at QD32 complete" \
  qbench 0 -w -c 512 -s 4k --pattern=0x6b -t writethrough
check "LUN 0: 8192 reads of 4 KiB at QD32 complete" qbench 0 -c 8192 -s 4k
check "LUN 0: 256 reads of 1 MiB at QD32 complete" qbench 0 -c 256 -s 1M
image_bytes aio >"$E2E_TMP/aio.raw"
check "the image holds the FUA writes' 0x6b in its first 2 MiB" \
  cmp -n $((2 * MiB)) "$E2E_TMP/aio.raw" <(bytes_of $((2 * MiB)) '\153')
check "... then the other writes' 0x5a up to 16 MiB" \
  cmp -n $((14 * MiB)) -i $((2 * MiB)):0 "$E2E_TMP/aio.raw" <(bytes_of $((14 * MiB)) '\132')
check "... and zeros after" cmp -n $((48 * MiB)) -i $((16 * MiB)):0 "$E2E_TMP/aio.raw" /dev/zero

# LUN 1 (file + image): 16 KiB writes of 0x33 over all of it, FUA ones
# (writethrough), then reads; one request of each 1024 crosses from the
# file into the image.
check "LUN 1: 2048 FUA writes of 16 KiB at QD32 over both members complete" \
  qbench 1 -w -c 2048 -s 16k --pattern=0x33 -t writethrough
check "LUN 1: 4096 reads of 16 KiB at QD32 over both members complete" qbench 1 -c 4096 -s 16k
check "the file member holds 0x33" cmp "$E2E_TMP/member.img" <(bytes_of "$FILE_LEN" '\063')
check "the image member holds 0x33" cmp -n "$RBD_LEN" <(image_bytes meta) <(bytes_of "$RBD_LEN" '\063')
check "qemu-img reads LUN 1 back over iSCSI" \
  timeout 60 qemu-img convert --image-opts "$(opts 1)" -O raw "$E2E_TMP/lun1.raw"
check "... all 0x33" cmp "$E2E_TMP/lun1.raw" <(bytes_of $((16 * MiB)) '\063')

# UNMAP and WRITE SAME (rbd_aio_discard, rbd_aio_write_zeroes) across the
# members' boundary and inside the image: zeros there, 0x33 elsewhere.
out=$(timeout 60 qemu-io --image-opts "$(opts 1)" -c "discard 1020k 16k" -c "write -z 2M 64k" \
  -c "write -z -u 4092k 8k" 2>&1)
echo "$out"
check "UNMAP of 16 KiB across the boundary" grep -q "discard 16384/16384" <<<"$out"
check "WRITE SAME of zeros, 64 KiB in the image" grep -q "wrote 65536/65536" <<<"$out"
check "WRITE SAME with UNMAP, 8 KiB in the image" grep -q "wrote 8192/8192" <<<"$out"
bytes_of $((16 * MiB)) '\063' >"$E2E_TMP/expect.raw"
for z in "1020 16" "2048 64" "4092 8"; do
  read -r at n <<<"$z"
  dd if=/dev/zero of="$E2E_TMP/expect.raw" bs=1k seek="$at" count="$n" conv=notrunc status=none
done
check "qemu-img reads LUN 1 back" timeout 60 qemu-img convert --image-opts "$(opts 1)" -O raw "$E2E_TMP/lun1b.raw"
check "... zeros where unmapped or zeroed, 0x33 elsewhere" cmp "$E2E_TMP/lun1b.raw" "$E2E_TMP/expect.raw"
check "the file member agrees" cmp -n "$FILE_LEN" "$E2E_TMP/member.img" "$E2E_TMP/expect.raw"
check "the image member agrees" cmp -n "$RBD_LEN" <(image_bytes meta) <(tail -c +$((FILE_LEN + 1)) "$E2E_TMP/expect.raw")

check "vsl gateway stops cleanly" stop_pid "$GW" 10
line=$(grep -a 'vsl gateway: rbd: ' "$E2E_TMP/gw.err")
log "gateway: ${line:-no rbd line}"
max=$(sed -n 's/.*at most \([0-9]*\) in flight at once.*/\1/p' <<<"$line")
check_ne "the gateway reported its librbd calls on stop" "$max" ""
check "at least $MIN_IN_FLIGHT librbd calls were in flight at once with one I/O thread (got ${max:-none})" \
  test "${max:-0}" -ge "$MIN_IN_FLIGHT"

# A stop while QD32 writes are in flight at librbd: the gateway waits for
# their completions (which post to its loops and may hand file pieces to
# its I/O thread) and exits 0.
gateway_up "$VSL" "$E2E_TMP/gw.json" gw2
GW2=$GW
timeout 120 qemu-img bench --image-opts "$(opts 1)" -d 32 -t none -w -c 1000000 -s 16k >"$E2E_TMP/load.out" 2>&1 &
LOAD=$!
e2e_on_exit "stop_pid $LOAD 5"
wait_for_file_line "$E2E_TMP/gw2.err" ': login of ' 30 "$GW2" || fail_now "qemu-img bench did not log in"
sleep 2  # let the writes flow (no figure depends on it)
kill -TERM "$GW2"
rc=0
wait "$GW2" || rc=$?
check_eq "vsl gateway stopped under QD32 RBD writes exits 0" 0 "$rc"
check "... after reporting its librbd calls" grep -q 'vsl gateway: rbd: ' "$E2E_TMP/gw2.err"
stop_pid "$LOAD" 5
e2e_finish
