#!/usr/bin/env bash
# Live migration with RBD arrays (issue 12, docs/migration.md) on a throw-away
# Ceph cluster (tests/lib/ceph.sh), through the real binary and a real
# initiator (libiscsi, tests/tools/iscsi_migrate_host.c):
#   - a meta disk on a file array (class=file), mapped to h1, moves to an rbd
#     array (class=rbd1), then to a second rbd array on the same pool
#     (class=rbd2), then back to the file array, while h1 writes checksummed,
#     sequence-numbered 4 KiB blocks at random places in ONE session; after
#     each: no write failed, no reconnection, every block reads back as last
#     written through that session, through the gateway and straight from the
#     array (`rbd export` of the member images, or the array's file); the old
#     members are free and hold nothing (file: zero; rbd: the scrub's fresh
#     image maps no data, or the image is gone)
#   - kill -9 of vsl serve at op.migrate.copied (file -> rbd1) and at
#     op.migrate.switched (rbd1 -> rbd2): restart, one more migrate
#     converges, the content is whole, nothing leaked (no volume in use but
#     the disks and their members; no image in the pool the catalog does not
#     know; every free volume empty)
#   - a disk whose rbd member is a clone of an image's master copy (as farm
#     copies make them) moves to the file array: its content equals what the
#     host saw before, and its own later writes
# Prints FIGURE lines: the migration rate and the host's write IOPS during a
# migration against without one (no timing is asserted).
#   migrate.sh VSL
set -uo pipefail
VSL=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../api/lib.sh"
source "$HERE/../farm/crash_lib.sh"
source "$HERE/../lib/ceph.sh"
source "$HERE/../lib/migrate_host.sh"
e2e_init 400
migrate_host_build
ceph_e2e_start
admin_rbd() { VSL_CEPH_RBD_TIMEOUT=120 ceph_admin_rbd "$@"; }
API_CATALOG=sqlite
catalog_init

DATA=$E2E_TMP/data
MiB=$((1 << 20))
SIZE=$((16 * MiB))
serve_up() { crash_serve "$DATA" "$1" || fail_now "vsl serve did not start: $(tail -5 "$SERVE_LOG")"; }
serve_up ""

check "file array f added (class=file, a pool)" v array add f --path "$E2E_TMP/f" --capacity 96MiB --quality class=file
for n in 1 2; do
  check "rbd array r$n added (class=rbd$n, pool $VSL_CEPH_POOL)" v array add "r$n" --driver rbd --pool "$VSL_CEPH_POOL" \
    --ceph-conf "$VSL_CEPH_CONF" --ceph-user "$VSL_CEPH_USER" --keyring "$VSL_CEPH_KEYRING" \
    --capacity 256MiB --quality "class=rbd$n"
done
INI=iqn.2026-11.org.example:h1
check "host h1 added" v host add h1 --hw std --initiator "$INI" --chap-secret secret-of-h1-0123

D=$(v disk allocate --size 16MiB --quality class=file --unit --meta --json | jq -r .result.volume)
check "meta disk D (16 MiB on f) allocated" test "$D" -gt 0
check "D bound to h1 at LUN 0 and mapped" bash -c "'$VSL' disk bind $D --host h1 --lun 0 && '$VSL' disk map $D"
BLOCKS=$((SIZE / 4096))
STATE=$E2E_TMP/host.state
KEEP=""  # units besides D (and their members) that are in use

members() { members_of "$D"; }
arrays_of() { unit_arrays "${1:-$D}"; }
# vol_where ID: "file PATH" or "rbd IMAGE" of volume ID.
vol_where() {
  local j a
  j=$(ajson GET "/v1/volumes/$1")
  a=$(jq -r .array <<<"$j")
  if [[ $a == f ]]; then echo "file $E2E_TMP/f/volumes/$(jq -r .array_volume <<<"$j")"; else echo "rbd vsl-$a-$(jq -r .array_volume <<<"$j")"; fi
}
# vol_bytes ID: the volume's bytes, read on its array (not through vsl).
vol_bytes() {
  local kind where
  read -r kind where <<<"$(vol_where "$1")"
  if [[ $kind == file ]]; then cat "$where"; else admin_rbd export "$where" - 2>/dev/null; fi
}
# vol_empty ID: a free volume holds nothing: its file reads zero; its image
# maps no data (the scrub's fresh image) or is gone.
vol_empty() {
  local kind where
  read -r kind where <<<"$(vol_where "$1")"
  if [[ $kind == file ]]; then
    [[ ! -f $where ]] || zero_file "$where"
  else
    admin_rbd info "$where" >/dev/null 2>&1 || return 0
    [[ $(admin_rbd diff "$where" --format json 2>/dev/null) == "[]" ]]
  fi
}
lun_opts() {
  echo "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:h1,lun=$1,initiator-name=$INI,user=h1,password-secret=s0"
}
grab() {  # LUN OUT: the LUN read through the gateway
  rm -f "$2"
  timeout 60 qemu-img convert -O raw --object "secret,id=s0,data=secret-of-h1-0123" --image-opts "$(lun_opts "$1")" "$2"
}
# content_is_host_view: D read through the gateway, and its members read on
# their arrays one after another, both equal what the host wrote.
content_is_host_view() {
  "$HOSTTOOL" expect "$BLOCKS" "$STATE" "$E2E_TMP/expect.raw" || return 1
  grab 0 "$E2E_TMP/gw.raw" || return 1
  cmp "$E2E_TMP/gw.raw" "$E2E_TMP/expect.raw" || { echo "the gateway's view differs"; return 1; }
  local m
  for m in $(members); do vol_bytes "$m"; done >"$E2E_TMP/arr.raw"
  cmp -n "$SIZE" "$E2E_TMP/arr.raw" "$E2E_TMP/expect.raw" || { echo "the arrays' bytes differ"; return 1; }
}
# pool_problems: images of r1/r2 the catalog does not know (leaked), and the
# catalog's volumes of them without their image.
pool_problems() {
  local known images i
  known=$(ajson GET '/v1/volumes?limit=100000' | jq -r \
    '.volumes[] | select((.array == "r1" or .array == "r2") and (.vanished | not)) | "vsl-\(.array)-\(.array_volume)"' | sort)
  images=$(admin_rbd ls 2>/dev/null | grep -E '^vsl-r[12]-' | sort)
  for i in $(comm -13 <(echo "$known") <(echo "$images")); do echo "image $i is unknown to the catalog (leaked)"; done
  for i in $(comm -23 <(echo "$known") <(echo "$images")); do
    # A free volume's image may be gone (given back); a used one's may not.
    [[ $(ajson GET '/v1/volumes?limit=100000' | jq -r --arg i "$i" \
      '.volumes[] | select("vsl-\(.array)-\(.array_volume)" == $i) | .state') == free ]] ||
      echo "the catalog's $i has no image"
  done
}
# no_leak: no volume in use but D, the KEEP units and their members; every
# free volume of f, r1, r2 is empty; the pool holds no unknown image.
no_leak() {
  local used want id u
  used=$(ajson GET '/v1/volumes?limit=100000' | jq -r '[.volumes[] | select(.state != "free") | .id] | join(" ")' |
    tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')
  want=$(for u in $D $KEEP; do echo "$u $(members_of "$u")"; done | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ' | sed 's/ $//')
  [[ $used == "$want" ]] || { echo "in use: $used; expected only: $want"; return 1; }
  for id in $(ajson GET '/v1/volumes?state=free&limit=100000' | jq -r '.volumes[] | select(.array == "f" or .array == "r1" or .array == "r2") | .id'); do
    vol_empty "$id" || { echo "free volume $id ($(vol_where "$id")) holds data"; return 1; }
  done
  local p
  p=$(pool_problems)
  [[ -z $p ]] || { echo "$p"; return 1; }
}

# live_move Q ARRAY [RATE]: D moves to quality Q (onto ARRAY) while h1 writes.
FIRST=1
live_move() {
  local q=$1 arr=$2 rate=${3:-} old m t0 t1 t2 rc
  old=$(members)
  log "live: D ($(arrays_of)) -> $q while h1 writes"
  rm -f "$E2E_TMP/stop"
  [[ $FIRST == 1 ]] && rm -f "$STATE"
  FIRST=0
  host_writer "$E2E_TMP/stop"
  sleep 2
  t0=$(now_ms)
  check "vsl disk migrate D --quality $q ${rate:+--rate $rate}" \
    bash -c "'$VSL' disk migrate $D --quality $q ${rate:+--rate $rate} --json >'$E2E_TMP/m.json'"
  t1=$(now_ms)
  sleep 2
  t2=$(now_ms)
  touch "$E2E_TMP/stop"
  wait "$WRITER"
  rc=$?
  check_eq "[$q] h1's session: no write failed, all read back as last written (exit 0)" 0 "$rc"
  head -5 "$E2E_TMP/writer.err"
  check "[$q] h1 acknowledged writes during the migration" \
    test "$(awk -v a="$t0" -v b="$t1" '$1 == "tick" && $2 >= a && $2 <= b' "$E2E_TMP/writer.out" | wc -l)" -ge 1
  check_eq "[$q] the result says moved" true "$(jq -r .result.moved "$E2E_TMP/m.json")"
  check_eq "[$q] D is on $arr, still mapped" "$arr mapped" "$(arrays_of) $(vol_state "$D")"
  for m in $old; do
    check_eq "[$q] old member $m is free" free "$(vol_state "$m")"
    check "[$q] old member $m holds nothing ($(vol_where "$m"))" vol_empty "$m"
  done
  check "[$q] content: gateway and the array equal what h1 wrote" content_is_host_view
  check "[$q] nothing leaked" no_leak
  if [[ -n $rate ]]; then
    local bytes secs
    bytes=$(jq -r .result.bytes_copied "$E2E_TMP/m.json")
    secs=$(jq -r .result.seconds "$E2E_TMP/m.json")
    echo "FIGURE migrate-rbd-rate ($q): $(echo "$bytes / $secs / 1048576" | bc -l | xargs printf '%.1f') MiB/s" \
      "($bytes bytes in $(jq -r .result.passes "$E2E_TMP/m.json") passes, $(printf '%.2f' "$secs") s, paced at $rate)"
    # "during": the copy itself, from the request's first progress event to its last.
    local copy
    copy=$(ajson GET "/v1/events?request=$(jq -r .request.id "$E2E_TMP/m.json")&limit=10000" |
      jq -r '[.events[] | select(.op == "migrate-copy") | .time_ms] | "\(min) \(max)"')
    echo "FIGURE migrate-rbd-host-iops ($q): without $(writes_between $((t0 - 2000)) "$t0") writes/s," \
      "during the copy $(writes_between $copy) writes/s, after $(writes_between "$t1" "$t2") writes/s (4 KiB, QD1)"
  fi
}

live_move class=rbd1 r1 8MiB/s
live_move class=rbd2 r2 8MiB/s
live_move class=file f 8MiB/s

log "kill -9 at op.migrate.copied (-> rbd1) and op.migrate.switched (-> rbd2); restart; one more migrate converges"
for step in "op.migrate.copied class=rbd1 r1" "op.migrate.switched class=rbd2 r2"; do
  read -r at q arr <<<"$step"
  check "[$at] stop serve" crash_serve_stop
  serve_up "$at:1"
  rm -f "$E2E_TMP/stop"
  host_writer "$E2E_TMP/stop" 1
  wait "$WRITER"
  check_eq "[$at] h1 wrote (exit 0)" 0 "$?"
  v disk migrate "$D" --quality "$q" --no-wait >/dev/null 2>&1
  check "[$at] vsl serve died at the crash point" crash_serve_died "$at" 1
  serve_up ""
  check_eq "[$at] the requests ended after restart" "" "$(requests_settled 60)"
  check "[$at] one more migrate converges" v disk migrate "$D" --quality "$q"
  check_eq "[$at] D is on $arr, mapped" "$arr mapped" "$(arrays_of) $(vol_state "$D")"
  check "[$at] h1 reads everything it wrote" host_verify
  check "[$at] gateway and the array equal what h1 wrote" content_is_host_view
  check "[$at] nothing leaked" no_leak
done

log "a clone of an image's master copy on r1, mapped, moves to the file array"
head -c "$SIZE" /dev/urandom >"$E2E_TMP/img.raw"
check "image img (16 MiB) imported" v image import img "$E2E_TMP/img.raw"
C=$(v disk allocate --size 16MiB --quality class=rbd1 --unit --meta --json | jq -r .result.volume)
check "meta unit C on r1" test "$C" -gt 0
check "img copied onto C" v disk copy "$C" --image img
CM=$(members_of "$C")
CIMG=$(vol_where "$CM" | cut -d' ' -f2)
check "Ceph says C's member $CIMG is a clone" \
  bash -c "$(declare -f admin_rbd ceph_admin_rbd); admin_rbd info $CIMG | grep -q 'parent: $VSL_CEPH_POOL/vsl-r1-'"
PARENT=$(admin_rbd info "$CIMG" 2>/dev/null | sed -n "s|.*parent: $VSL_CEPH_POOL/\([^@]*\)@.*|\1|p" | head -1)
# The image's masters (the imported one on f, its copy for clones on r1) are in use.
KEEP="$C $(ajson GET /v1/images/img | jq -r '[.masters[].volume_id] | join(" ")')"
check "C bound to h1 at LUN 1 and mapped" bash -c "'$VSL' disk bind $C --host h1 --lun 1 && '$VSL' disk map $C"
check "h1 writes 0x5a at 1M..1M+64k and 0xa5 at the last 4k of C" \
  host_qemu_io h1 1 "write -P 0x5a 1M 64k" "write -P 0xa5 $((SIZE - 4096)) 4k"
check "C read through the gateway before" grab 1 "$E2E_TMP/c0.raw"
python3 - "$E2E_TMP/img.raw" "$E2E_TMP/cexp.raw" "$SIZE" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
n = int(sys.argv[3])
b[1 << 20:(1 << 20) + 65536] = b'\x5a' * 65536
b[n - 4096:n] = b'\xa5' * 4096
open(sys.argv[2], 'wb').write(b)
PY
check "... is the image with h1's writes" cmp "$E2E_TMP/c0.raw" "$E2E_TMP/cexp.raw"
check "migrate C to class=file" v disk migrate "$C" --quality class=file
check_eq "C is on f, mapped" "f mapped" "$(arrays_of "$C") $(vol_state "$C")"
check "C read through the gateway after" grab 1 "$E2E_TMP/c1.raw"
check "... equals what h1 saw before" cmp "$E2E_TMP/c1.raw" "$E2E_TMP/cexp.raw"
check "C's file on f holds it too" cmp <(for m in $(members_of "$C"); do vol_bytes "$m"; done) "$E2E_TMP/cexp.raw"
check_eq "the clone member $CM is free" free "$(vol_state "$CM")"
check "... and holds nothing" vol_empty "$CM"
check "the image's master copy $PARENT still holds the image" cmp <(admin_rbd export "$PARENT" - 2>/dev/null) "$E2E_TMP/img.raw"
check "nothing leaked" no_leak

e2e_finish
