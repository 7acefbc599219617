#!/usr/bin/env bash
# kill -9 of `vsl serve` in the middle of each disk operation of the CLI, at
# each crash point inside it (docs/crash-points.md), then restart on the same
# data directory and catalog: the request is there and ended (done or
# failed, never left running, never lost), one more run of the same command
# succeeds and leaves what the command promises, nothing is leaked (no
# volume held that no finished request accounts for, no array file the
# catalog does not know), and the gateway serves each host exactly the LUNs
# the catalog says are mapped to it. Backups (op backup, with --backup-dir)
# too: no partial backup listed, no catalog row left running.
# Then: a restarted serve takes over the request its killed predecessor was
# running at once, not after the lease (120 s here), also when the
# predecessor ran under another host name (a restarted container).
#   crash_ops.sh VSL   (API_CATALOG=sqlite|pg; CRASH_OPS_ONLY=REGEX runs
#                       only the cases whose title matches, for debugging)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
api_suite "$1" 420 farm/crash_lib

DATA=$E2E_TMP/data
MiB=$((1 << 20))
STORE=$E2E_TMP/store
serve_up() {  # CRASH_AT [ARGS...]
  crash_serve "$DATA" "$@" --backup-dir "$STORE" || fail_now "vsl serve did not start: $(tail -5 "$SERVE_LOG")"
}
serve_up ""
for h in ha hb; do
  v host add "$h" --hw std --initiator "iqn.2026-11.org.example:$h" --chap-secret "secret-of-$h-0123" >/dev/null ||
    fail_now "host add $h"
done
IMG=$E2E_TMP/img.raw
head -c $MiB /dev/urandom >"$IMG"
v image import img "$IMG" >/dev/null || fail_now "image import"
IMG_ID=$(tv image list --json | jq '.images[] | select(.name == "img") | .id')
MASTER=$(tv image list --json | jq '.images[] | select(.name == "img") | .master_volume_id')
WP=$E2E_TMP/iscsi_wp
gcc -O1 -o "$WP" "$HERE/../tools/iscsi_wp.c" -liscsi || fail_now "cannot build tests/tools/iscsi_wp.c"

# ---- units in a given state, made on a serve without crash points ----

LUN=0
# prep STATE: U is a new 1 MiB meta unit in STATE (configured, copied,
# bound, mapped, unmapped, unbound; from copied on it holds the image),
# bound to ha at LUN L when it was bound.
prep() {
  U=$(tv disk allocate --size 1MiB --unit --meta --json | jq -r .result.volume)
  [[ $U =~ ^[0-9]+$ ]] || fail_now "allocate --unit failed"
  LUN=$((LUN + 1))
  L=$LUN
  local s
  for s in copied bound mapped unmapped unbound; do
    [[ $1 == configured ]] && break
    case $s in
      copied) tv disk copy "$U" --image img ;;
      bound) tv disk bind "$U" --host ha --lun "$L" ;;
      mapped) tv disk map "$U" ;;
      unmapped) tv disk unmap "$U" ;;
      unbound) tv disk unbind "$U" ;;
    esac >/dev/null || fail_now "prep $1: $s of volume $U failed"
    [[ $s == "$1" ]] && break
  done
  MEMBERS=$(ajson GET "/v1/volumes/$U" | jq -r '[.members[].id] | join(" ")')
}

# ---- what must hold after each case ----

# requests_after ID: the requests after ID, as JSON.
requests_after() { ajson GET "/v1/requests?after=$1&limit=100000"; }
last_request() { ajson GET '/v1/requests?limit=100000' | jq '[.requests[].id] | max // 0'; }

# gateway_problems: each host is served exactly the LUNs the catalog maps.
gateway_problems() {
  local h want got
  for h in ha hb; do
    want=$(ajson GET "/v1/hosts/$h" | jq -r '[.bindings[] | select(.mapped) | .lun] | sort | map(tostring) | join(" ")')
    got=$(host_luns "$h")
    [[ $want == "$got" ]] || echo "host $h: the catalog maps LUNs [$want], the gateway serves [$got]"
  done
}

# array_problems: array files the catalog does not know, new since the case
# began (UNKNOWN_BEFORE).
array_problems() {
  local f
  for f in $(unknown_array_files "$DATA"); do
    grep -qx "$f" <<<"$UNKNOWN_BEFORE" || echo "array file $f is unknown to the catalog (leaked)"
  done
}

# held_problems: every volume a request after CASE_LAST took (its
# request_id, not free) is accounted for: the result of a done request, or a
# member of a unit.
held_problems() {
  local reqs vols
  reqs=$(requests_after "$CASE_LAST")
  vols=$(tv volume list --all --json)
  jq -rn --argjson r "$reqs" --argjson v "$vols" '
    ($r.requests | map(.id)) as $ids
    | [$r.requests[] | select(.state == "done") | .result | (.volumes[]?, .volume?) | numbers] as $results
    | [$v.volumes[] | select(.state != "free" and .parent_id == null)
        | select(.request_id as $q | $ids | index($q)) | select(.id as $i | $results | index($i) | not) | .id]
    | if length == 0 then empty else "volumes held that no finished request accounts for: \(.)" end'
}

zero_file() { [[ $(tr -d '\0' <"$1" | wc -c) == 0 ]]; }

# files_of ID...: the array files of these volumes.
files_of() {
  local vols id
  vols=$(tv volume list --all --json)
  for id in "$@"; do
    jq -r --argjson i "$id" '.volumes[] | select(.id == $i) | .array_volume' <<<"$vols" |
      sed "s|^|$DATA/arrays/default/volumes/|"
  done
}

unit_is() {  # STATE: U's state and its bindings (host:lun:mapped)
  local j
  j=$(ajson GET "/v1/volumes/$U") || { echo "volume $U: $(head -c 200 <<<"$j")"; return; }
  echo "$(jq -r .state <<<"$j") [$(jq -r '[.bindings[] | "\(.host):\(.lun):\(.mapped)"] | join(" ")' <<<"$j")]"
}

expect_unit() {  # STATE BINDINGS
  local got
  got=$(unit_is)
  [[ $got == "$1 [$2]" ]] || echo "volume $U is '$got', expected '$1 [$2]'"
}

promise_allocate() {
  local bad
  bad=$(requests_after "$CASE_LAST" | jq -r '.requests[] | select(.state == "done") | .result.volumes[]' |
    while read -r id; do [[ $(vol_state "$id") == allocated ]] || echo "$id"; done)
  [[ -z $bad ]] || echo "allocated volumes not allocated: $bad"
}
promise_allocate_unit() {
  local bad
  bad=$(requests_after "$CASE_LAST" | jq -r '.requests[] | select(.state == "done") | .result.volume' |
    while read -r id; do [[ $(vol_state "$id") == configured ]] || echo "$id"; done)
  [[ -z $bad ]] || echo "units not configured: $bad"
}
promise_configure() {
  local p m
  p=$(ajson GET "/v1/volumes/$V1" | jq -r '.parent_id')
  [[ $p =~ ^[0-9]+$ ]] || { echo "volume $V1 is in no meta volume"; return; }
  m=$(ajson GET "/v1/volumes/$p" | jq -r '"\(.type) \(.state) \([.members[].id] | map(tostring) | join(","))"')
  [[ $m == "meta configured $V1,$V2" ]] || echo "meta volume $p is '$m', expected 'meta configured $V1,$V2'"
}
promise_copy() {
  expect_unit configured ""
  [[ $(ajson GET "/v1/volumes/$U" | jq .image_id) == "$IMG_ID" ]] || echo "volume $U does not record image img"
  local f
  f=$(files_of $MEMBERS | head -1)
  cmp -n $MiB "$f" "$IMG" >/dev/null 2>&1 || echo "volume $U does not hold the image"
}
promise_bind() { expect_unit bound "ha:$L:false"; }
promise_map() {
  expect_unit mapped "ha:$L:true"
  host_lun_is_image ha "$L" "$IMG" >/dev/null 2>&1 || echo "ha does not read the image at LUN $L"
}
promise_grow() {
  expect_unit mapped "ha:$L:true"
  local j
  j=$(ajson GET "/v1/volumes/$U")
  [[ $(jq .size <<<"$j") == $((3 * MiB)) && $(jq '[.members[].size] | add' <<<"$j") == $((3 * MiB)) ]] ||
    echo "volume $U is $(jq .size <<<"$j") bytes of members $(jq -c '[.members[] | [.id, .size]]' <<<"$j"), not 3 MiB"
  local size
  size=$(timeout 30 qemu-img info --output=json --object "secret,id=s0,data=secret-of-ha-0123" --image-opts \
    "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:ha,lun=$L,initiator-name=iqn.2026-11.org.example:ha,user=ha,password-secret=s0" |
    jq '.["virtual-size"]')
  [[ $size == $((3 * MiB)) ]] || echo "ha sees LUN $L as $size bytes, not 3 MiB"
  host_lun_is_image ha "$L" "$IMG" >/dev/null 2>&1 || echo "ha does not read the image at LUN $L after the grow"
}
# The image's master, bound read-only to ha at LUN LA and (once bound) to hb
# at LUN LB: RO_WANT lists host:lun:mapped:read_only of its bindings.
promise_ro() {
  local got
  got=$(ajson GET "/v1/volumes/$U" | jq -r '"\(.state) [\([.bindings[] | "\(.host):\(.lun):\(.mapped):\(.read_only)"] | join(" "))]"')
  [[ $got == "$RO_WANT" ]] || echo "volume $U is '$got', expected '$RO_WANT'"
}
promise_ro_map() {
  promise_ro
  local h l w
  for h in ha:$LA hb:$LB; do
    l=${h#*:} h=${h%%:*}
    host_lun_is_image "$h" "$l" "$IMG" >/dev/null 2>&1 || echo "$h does not read the image at LUN $l"
    w=$("$WP" "iqn.2026-11.org.example:$h" "$(host_url "$h" "$l")" write 0 2>&1)
    [[ $w == "status=2 key=07 asc=27 ascq=00" ]] || echo "a write from $h to LUN $l got '$w', not DATA PROTECT"
  done
}
promise_unmap() { expect_unit unmapped "ha:$L:false"; }
promise_unbind() { expect_unit unbound ""; }
promise_scrub() {
  expect_unit unbound ""
  local f
  for f in $(files_of $MEMBERS); do zero_file "$f" || echo "volume $U: ${f##*/} holds data after scrub"; done
}
promise_free() {
  local j id f
  j=$(api GET "/v1/volumes/$U")
  [[ $(tail -1 <<<"$j") == 404 || $(sed '$d' <<<"$j" | jq -r .state) == free ]] ||
    echo "volume $U is $(sed '$d' <<<"$j" | jq -r .state), not free (or gone)"
  for id in $MEMBERS; do
    j=$(ajson GET "/v1/volumes/$id")
    [[ $(jq -r '"\(.state) \(.clean)"' <<<"$j") == "free true" ]] ||
      echo "member $id is $(jq -r '"\(.state), clean \(.clean)"' <<<"$j"), not free and clean"
  done
  for f in $(files_of $MEMBERS); do zero_file "$f" || echo "${f##*/} holds data after free"; done
}
promise_break() { expect_unit unconfigured ""; }
# The image RM_IMAGE is gone and its master (U) is free, clean and zero.
promise_remove_image() {
  [[ $(api GET "/v1/images/$RM_IMAGE" | tail -1) == 404 ]] || echo "image $RM_IMAGE is still there"
  local j f
  j=$(ajson GET "/v1/volumes/$U")
  [[ $(jq -r '"\(.state) \(.clean) \(.image_id)"' <<<"$j") == "free true null" ]] ||
    echo "master $U is $(jq -r '"\(.state), clean \(.clean), image \(.image_id)"' <<<"$j"), not free, clean, no image"
  for f in $(files_of "$U"); do zero_file "$f" || echo "master $U: ${f##*/} holds data after the image's removal"; done
}

# Backups of U: no catalog row left running; the store lists exactly the
# complete rows; the newest restores (by the store alone) to the image.
promise_backup() {
  local rows listed want got out
  rows=$(ajson GET "/v1/backups?disk=$U")
  [[ $(jq '[.backups[] | select(.state == "running")] | length' <<<"$rows") == 0 ]] ||
    echo "backups of $U still running: $(jq -c '[.backups[] | select(.state == "running") | .id]' <<<"$rows")"
  want=$(jq -r '[.backups[] | select(.state == "complete") | .id] | sort | join(" ")' <<<"$rows")
  got=$(tv backup-store list "$STORE" --json | jq -r --arg d "$U" '[.backups[] | select(.disk == $d) | .id] | sort | join(" ")')
  [[ $want == "$got" ]] || echo "the catalog's complete backups of $U are [$want], the store lists [$got]"
  [[ -n $got ]] || { echo "no complete backup of $U"; return; }
  out=$E2E_TMP/restored.$RANDOM
  tv backup-store restore "$STORE" "${got##* }" "$out" >/dev/null 2>&1 || echo "backup ${got##* } does not restore"
  cmp -n $MiB "$out" "$IMG" >/dev/null 2>&1 || echo "backup ${got##* } is not the disk's content"
  rm -f "$out"
}

# crash_case POINT:N OP PROMISE CMD...: the serve armed at POINT:N runs CMD
# (the CLI, which fails as the serve dies under it); a serve without crash
# points restarts on the same data; then the checks above.
crash_case() {
  local at=$1 op=$2 promise=$3
  shift 3
  local title="$* [$at]" i reqs out
  if [[ -n ${CRASH_OPS_ONLY:-} ]] && ! [[ $title =~ $CRASH_OPS_ONLY ]]; then return; fi
  log "$title"
  CASE_LAST=$(last_request)
  UNKNOWN_BEFORE=$(unknown_array_files "$DATA")
  crash_serve_stop || echo "(the serve before did not stop cleanly)"
  serve_up "$at"
  check_fails "$title: the command fails (vsl serve is killed)" tv "$@"
  check "$title: vsl serve died at the crash point" crash_serve_died "${at%:*}" "${at##*:}" 10
  serve_up ""
  for ((i = 0; i < 300; i++)); do
    reqs=$(requests_after "$CASE_LAST")
    [[ $(jq '[.requests[] | select(.state == "queued" or .state == "running")] | length' <<<"$reqs") == 0 ]] && break
    sleep 0.1
  done
  check_eq "$title: its request is there and ended (done or failed) after the restart" "$op ended" \
    "$(jq -r '[.requests[] | "\(.op) \(if .state == "done" or .state == "failed" then "ended" else .state end)"] | join(", ")' <<<"$reqs")"
  if [[ $op == free || $op == remove-image ]]; then
    # A freed meta volume (a removed image) is gone: "does not exist" is a
    # fine answer.
    out=$(tv "$@" 2>&1) || grep -q 'not_found' <<<"$out" || out="FAILED: $out"
    check_eq "$title: the same command again succeeds" "" "$(grep '^FAILED' <<<"$out")"
  else
    check "$title: the same command again succeeds" tv "$@"
  fi
  check_eq "$title: the outcome is what the command promises" "" "$($promise)"
  check_eq "$title: nothing leaked" "" "$(held_problems; array_problems)"
  check_eq "$title: the gateway serves what the catalog maps" "" "$(gateway_problems)"
}

alloc_unit() { tv disk allocate --size 1MiB --unit --meta --json | jq -r .result.volume; }

for at in op.allocate.cut:1 op.allocate.end:1; do
  crash_case "$at" allocate promise_allocate disk allocate --size 1MiB
done
for at in op.allocate.cut:1 op.allocate-unit.allocated:1 op.allocate-unit.end:1; do
  crash_case "$at" allocate-unit promise_allocate_unit disk allocate --size 1MiB --unit --meta
done
V1=$(tv disk allocate --size 1MiB --json | jq -r '.result.volumes[0]')
V2=$(tv disk allocate --size 1MiB --json | jq -r '.result.volumes[0]')
crash_case op.make-meta.end:1 make-meta promise_configure disk configure "$V1" "$V2"
for at in op.copy.copied:1 op.copy.end:1; do
  prep configured
  crash_case "$at" copy promise_copy disk copy "$U" --image img
done
for at in op.bind.granted:1 op.bind.end:1; do
  prep copied
  crash_case "$at" bind promise_bind disk bind "$U" --host ha --lun "$L"
done
# The image's master, shared read-only: bound to ha, then to hb (a second
# host of a bound unit), then mapped to both; after each crash the gateway
# serves it write-protected.
U=$MASTER
LA=$((LUN + 1)) LB=$((LUN + 2)) LUN=$((LUN + 2))
for at in op.bind.granted:1 op.bind.end:1; do
  RO_WANT="bound [ha:$LA:false:true]"
  crash_case "$at" bind promise_ro disk bind "$MASTER" --host ha --lun "$LA" --read-only
  RO_WANT="bound [ha:$LA:false:true hb:$LB:false:true]"
  crash_case "$at" bind promise_ro disk bind "$MASTER" --host hb --lun "$LB" --read-only
  [[ $at == op.bind.granted:1 ]] || continue
  # Again from the start for the next crash point.
  tv disk unbind "$MASTER" >/dev/null || fail_now "unbind of the master"
done
for at in op.map.mapped:1 op.map.end:1; do
  RO_WANT="mapped [ha:$LA:true:true hb:$LB:true:true]"
  crash_case "$at" map promise_ro_map disk map "$MASTER"
  [[ $at == op.map.mapped:1 ]] || continue
  { tv disk unmap "$MASTER" && tv disk unbind "$MASTER" && tv disk bind "$MASTER" --host ha --lun "$LA" --read-only &&
    tv disk bind "$MASTER" --host hb --lun "$LB" --read-only; } >/dev/null || fail_now "rebind of the master"
done
for at in op.map.mapped:1 op.map.end:1; do
  prep bound
  crash_case "$at" map promise_map disk map "$U"
done
for at in op.allocate.cut:1 op.grow.allocated:1 op.grow.granted:1 op.grow.recorded:1 op.grow.end:1; do
  prep mapped
  crash_case "$at" grow promise_grow disk grow "$U" --size 3MiB
done
for at in op.unmap.unmapped:1 op.unmap.end:1; do
  prep mapped
  crash_case "$at" unmap promise_unmap disk unmap "$U"
done
for at in op.unbind.revoked:1 op.unbind.end:1; do
  prep unmapped
  crash_case "$at" unbind promise_unbind disk unbind "$U"
done
for at in op.scrub.marked:1 op.scrub.wiped:1 op.scrub.end:1; do
  prep unbound
  crash_case "$at" scrub promise_scrub disk scrub "$U"
done
for at in op.free.step:1 op.scrub.marked:1 op.scrub.wiped:1 op.free.step:2 op.free.end:1; do
  prep unbound
  crash_case "$at" free promise_free disk free "$U"
done
prep configured
crash_case op.break-meta.end:1 break-meta promise_break disk break-meta "$U"
for at in op.remove-image.unlinked:1 op.scrub.marked:1 op.remove-image.end:1; do
  RM_IMAGE=rm${at//[^a-z0-9]/}
  v image import "$RM_IMAGE" "$IMG" >/dev/null || fail_now "image import $RM_IMAGE"
  U=$(tv image list --json | jq --arg n "$RM_IMAGE" '.images[] | select(.name == $n) | .master_volume_id')
  crash_case "$at" remove-image promise_remove_image image remove "$RM_IMAGE"
done

for at in op.backup.start:1 op.backup.filled:1 op.backup.committed:1 op.backup.end:1; do
  prep mapped
  crash_case "$at" backup promise_backup backup run "$U" --level 0
done

# ---- take-over: the request a killed serve was running ----

# takeover TITLE [WRAP...]: a serve with 120 s leases (under WRAP) is killed
# as it starts a map; the restarted one must finish the map well within 30 s.
takeover() {
  local title=$1 i t0 st
  shift
  if [[ -n ${CRASH_OPS_ONLY:-} ]] && ! [[ "takeover $title" =~ $CRASH_OPS_ONLY ]]; then return; fi
  prep bound
  CASE_LAST=$(last_request)
  crash_serve_stop
  log "take-over: $title"
  CRASH_SERVE_WRAP=("$@")
  SERVE_LEASE_MS=120000 serve_up op.map.start:1
  CRASH_SERVE_WRAP=()
  check_fails "take-over ($title): the map fails (vsl serve is killed as it starts it)" tv disk map "$U"
  check "take-over ($title): vsl serve died at op.map.start" crash_serve_died op.map.start 1 10
  t0=$(date +%s)
  SERVE_LEASE_MS=120000 serve_up ""
  while (($(date +%s) - t0 < 30)); do
    st=$(requests_after "$CASE_LAST" | jq -r '[.requests[] | .state] | join(" ")')
    [[ $st == "done" || $st == "failed" ]] && break
    sleep 0.1
  done
  check_eq "take-over ($title): the killed serve's map was run again (2 attempts)" "map 2" \
    "$(requests_after "$CASE_LAST" | jq -r '[.requests[] | "\(.op) \(.attempts)"] | join(", ")')"
  log "take-over ($title): request $st $(($(date +%s) - t0)) s after the restart (lease 120 s)"
  check_eq "take-over ($title): the restarted serve finished the map within 30 s (lease 120 s)" "done" "$st"
  promise_map_result=$(promise_map)
  check_eq "take-over ($title): the unit is mapped and served" "" "$promise_map_result"
  crash_serve_stop
  serve_up ""
}
takeover "same host name"
if unshare --uts true 2>/dev/null; then
  takeover "the killed serve ran under another host name" unshare --uts sh -c 'hostname vsl-old-pod && exec "$@"' sh
else
  log "NOT RUN: take-over from another host name (unshare --uts is not permitted here)"
fi

check "vsl serve stops cleanly" crash_serve_stop
e2e_finish
