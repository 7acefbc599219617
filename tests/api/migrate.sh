#!/usr/bin/env bash
# Live migration between qualities (issue 12, docs/migration.md) through the
# real binary and a real initiator (libiscsi, tests/tools/iscsi_migrate_host.c):
#   - a meta disk of 2 members on class=capacity (12 MiB volumes), mapped to
#     host h1, moves to class=performance (a pool: 1 member) while h1 writes
#     checksummed, sequence-numbered 4 KiB blocks at random places in ONE
#     session (no reconnection allowed); no write fails, every block reads
#     back as last written, through the same session, through the gateway
#     afterwards and straight from the new array's file; the old volumes end
#     free and read zero; progress is in the events; then onto class=fast3
#     (8 MiB volumes: 3 members) likewise
#   - refusals change nothing: quality already there (says so), no array
#     with the quality, not enough space, a plain volume, a free volume,
#     malformed API bodies and CLI rates
#   - a destination array that fails (fault hook on grant): the disk stays
#     where it was, whole, the destination is given back
#   - a configured and a bound (not mapped) unit are copied and switched
#   - FML: a farm disk's drivetype changed from spindle to performance is one
#     "~ migrate" change in the plan; apply moves it while its host writes
#   - kill -9 of vsl serve at op.migrate.allocated / granted / copied /
#     switched, restart: the request ends, one more migrate converges, the
#     content is whole, nothing is leaked (no volume in use but the disk's
#     members, every free volume's file reads zero)
# Prints FIGURE lines: migration rate and the host's write IOPS during a
# migration against without one (no timing is asserted).
# Usage: migrate.sh VSL   (API_CATALOG=sqlite|pg)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
api_suite "$1" 240 farm/crash_lib lib/migrate_host
migrate_host_build

DATA=$E2E_TMP/data
MiB=$((1 << 20))
serve_up() { crash_serve "$DATA" "$1" || fail_now "vsl serve did not start: $(tail -5 "$SERVE_LOG")"; }
serve_up ""

check "array cap added (class=capacity, 12 MiB volumes)" v array add cap --path "$E2E_TMP/cap" --capacity 36MiB \
  --volume-size 12MiB --quality class=capacity
check "array perf added (class=performance, a pool)" v array add perf --path "$E2E_TMP/perf" --capacity 64MiB \
  --quality class=performance
check "array fast3 added (class=fast3, 8 MiB volumes)" v array add fast3 --path "$E2E_TMP/fast3" --capacity 24MiB \
  --volume-size 8MiB --quality class=fast3
check "array tiny added (class=tiny, 8 MiB)" v array add tiny --path "$E2E_TMP/tiny" --capacity 8MiB \
  --quality class=tiny
check "fault array broken added" v array add broken --driver fault:file --path "$E2E_TMP/broken" --capacity 64MiB \
  --quality class=broken
check "host h1 added" v host add h1 --hw std --initiator iqn.2026-11.org.example:h1 --chap-secret secret-of-h1-0123

D=$(v disk allocate --size 24MiB --quality class=capacity --unit --meta --json | jq -r .result.volume)
check "meta disk D allocated" test "$D" -gt 0
check "D bound to h1 at LUN 0" v disk bind "$D" --host h1 --lun 0
check "D mapped" v disk map "$D"
BLOCKS=$((24 * MiB / 4096))
STATE=$E2E_TMP/host.state
INI=iqn.2026-11.org.example:h1

members() { members_of "$D"; }
arrays_of() { unit_arrays "$D"; }
# content_is_host_view: the disk read through the gateway, and its members'
# files on the arrays one after another, both equal what the host wrote.
content_is_host_view() {
  "$HOSTTOOL" expect "$BLOCKS" "$STATE" "$E2E_TMP/expect.raw" || return 1
  rm -f "$E2E_TMP/gw.raw" "$E2E_TMP/files.raw"
  timeout 60 qemu-img convert -O raw --object "secret,id=s0,data=secret-of-h1-0123" --image-opts \
    "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:h1,lun=0,initiator-name=$INI,user=h1,password-secret=s0" \
    "$E2E_TMP/gw.raw" || return 1
  cmp "$E2E_TMP/gw.raw" "$E2E_TMP/expect.raw" || { echo "the gateway's view differs"; return 1; }
  local m
  for m in $(members); do cat "$(vol_file "$m")"; done >"$E2E_TMP/files.raw"
  cmp -n $((24 * MiB)) "$E2E_TMP/files.raw" "$E2E_TMP/expect.raw" || { echo "the array files differ"; return 1; }
}
# no_leak: no volume in use but D and its members; every free volume on the
# test's file arrays reads zero.
no_leak() {
  local used want f id
  used=$(ajson GET '/v1/volumes?limit=100000' | jq -r '[.volumes[] | select(.state != "free") | .id] | sort | join(" ")')
  want=$(echo "$D $(members)" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')
  used=$(echo "$used" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')
  [[ $used == "$want" ]] || { echo "in use: $used; expected only D and its members: $want"; return 1; }
  for id in $(ajson GET '/v1/volumes?state=free&limit=100000' | jq -r '.volumes[] | select(.array == "cap" or .array == "perf" or .array == "fast3") | .id'); do
    f=$(vol_file "$id")
    [[ -f $f ]] || continue
    zero_file "$f" || { echo "free volume $id ($f) holds data"; return 1; }
  done
}

log "live: 2 members on class=capacity -> class=performance while h1 writes"
OLD=$(members)
check_eq "D starts with 2 members on cap" "2 cap" "$(wc -w <<<"$OLD") $(arrays_of)"
rm -f "$STATE" "$E2E_TMP/stop"
host_writer "$E2E_TMP/stop"
sleep 2
T0=$(now_ms)
check "vsl disk migrate D --quality class=performance --rate 16MiB/s" \
  bash -c "'$VSL' disk migrate $D --quality class=performance --rate 16MiB/s --json >'$E2E_TMP/m1.json'"
T1=$(now_ms)
sleep 2
T2=$(now_ms)
touch "$E2E_TMP/stop"
wait "$WRITER"
RC=$?
check_eq "the host's session: no write failed, all read back as last written (exit 0)" 0 "$RC"
cat "$E2E_TMP/writer.err" | head -5
tail -1 "$E2E_TMP/writer.out"
check "the writer acknowledged writes during the migration" \
  test "$(awk -v a="$T0" -v b="$T1" '$1 == "tick" && $2 >= a && $2 <= b' "$E2E_TMP/writer.out" | wc -l)" -ge 1
check_eq "the result says moved" true "$(jq -r .result.moved "$E2E_TMP/m1.json")"
check_eq "D now has 1 member, on perf" "1 perf" "$(members | wc -w) $(arrays_of)"
check_eq "D is still mapped (same unit id)" mapped "$(vol_state "$D")"
for m in $OLD; do
  check_eq "old member $m is free" free "$(vol_state "$m")"
  check "old member $m's file reads zero (scrubbed)" zero_file "$(vol_file "$m")"
done
check "content: gateway and the new array's file equal what h1 wrote" content_is_host_view
REQ=$(jq -r .request.id "$E2E_TMP/m1.json")
check "progress events of the request (pass N: X of Y bytes)" \
  bash -c "curl -s -H 'Authorization: Bearer $(cat "$DATA/admin.token")' '$VSL_API/v1/events?request=$REQ&limit=10000' |
    jq -e '[.events[] | select(.op == \"migrate-copy\" and (.detail | test(\"^pass [0-9]+: [0-9]+ of [0-9]+ bytes\$\")))] | length > 0'"
check "the unit's migrate event names old and new members" \
  bash -c "curl -s -H 'Authorization: Bearer $(cat "$DATA/admin.token")' '$VSL_API/v1/events?request=$REQ&limit=10000' |
    jq -e '[.events[] | select(.op == \"migrate\" and .entity_id == $D)] | length == 1'"
BYTES=$(jq -r .result.bytes_copied "$E2E_TMP/m1.json")
SECS=$(jq -r .result.seconds "$E2E_TMP/m1.json")
echo "FIGURE migrate-rate: $(echo "$BYTES / $SECS / 1048576" | bc -l | xargs printf '%.1f') MiB/s" \
  "($BYTES bytes in $(jq -r .result.passes "$E2E_TMP/m1.json") passes, $(printf '%.2f' "$SECS") s, paced at 16 MiB/s)"
# The host's writes go to both places while the copy runs, so the copy moves
# the 24 MiB disk about once; re-copying what the host wrote meanwhile (the
# passes this replaced) took 9 times the disk.
check "the copy moved the disk about once: $BYTES bytes copied, under 1.5 x 24 MiB" \
  test "$BYTES" -lt $((36 << 20))
# "during" is the copy itself: from the request's first progress event to its
# last (the request also allocates, grants, scrubs and frees around it).
COPY=$(curl -s -H "Authorization: Bearer $(cat "$DATA/admin.token")" "$VSL_API/v1/events?request=$REQ&limit=10000" |
  jq -r '[.events[] | select(.op == "migrate-copy") | .time_ms] | "\(min) \(max)"')
echo "FIGURE migrate-host-iops: without $(writes_between $((T0 - 2000)) "$T0") writes/s," \
  "during the copy $(writes_between $COPY) writes/s, after $(writes_between "$T1" "$T2") writes/s (4 KiB, QD1)"

log "live: 1 member on perf -> class=fast3 (3 members of 8 MiB), unpaced"
OLD=$(members)
rm -f "$E2E_TMP/stop"
host_writer "$E2E_TMP/stop"
sleep 1
check "vsl disk migrate D --quality class=fast3" v disk migrate "$D" --quality class=fast3
sleep 1
touch "$E2E_TMP/stop"
wait "$WRITER"
check_eq "the host's session: no write failed, all read back (exit 0)" 0 "$?"
check_eq "D now has 3 members, on fast3" "3 fast3" "$(members | wc -w) $(arrays_of)"
check_eq "old member $OLD is free" free "$(vol_state "$OLD")"
check "content: gateway and the new array's files equal what h1 wrote" content_is_host_view
check "nothing leaked" no_leak

log "refusals change nothing"
BEFORE=$(members)
check "quality already there: says so" bash -c "'$VSL' disk migrate $D --quality class=fast3 | grep -q 'already lies on storage with class=fast3'"
check_eq "  members unchanged" "$BEFORE" "$(members)"
check_fails "no array with class=nope" v disk migrate "$D" --quality class=nope
check "  the error names the quality" bash -c "'$VSL' disk migrate $D --quality class=nope 2>&1 | grep -q 'no array has class=nope'"
check_fails "not enough space on tiny (8 MiB for a 24 MiB disk)" v disk migrate "$D" --quality class=tiny
check "  the error says migrate of volume $D" bash -c "'$VSL' disk migrate $D --quality class=tiny 2>&1 | grep -q 'migrate of volume $D'"
check_eq "  members unchanged" "$BEFORE" "$(members)"
P=$(v disk allocate --size 8MiB --quality class=performance --unit --json | jq -r .result.volume)
check "a plain volume is refused (not a meta volume)" bash -c "'$VSL' disk migrate $P --quality class=capacity 2>&1 | grep -q 'not a meta volume'"
check "free it" v disk free "$P"
F=$(ajson GET '/v1/volumes?state=free&array=cap' | jq -r '.volumes[0].id')
check "a free volume is refused" bash -c "'$VSL' disk migrate $F --quality class=performance 2>&1 | grep -q 'not a meta volume'"
OUT=$(api POST /v1/disks/migrate "{\"volume\": $D}")
check_eq "API without qualities: 400" 400 "$(tail -1 <<<"$OUT")"
check "  naming the field" grep -q "qualities" <<<"$OUT"
OUT=$(api POST /v1/disks/migrate "{\"volume\": $D, \"qualities\": {\"class\": \"performance\"}, \"speed\": 1}")
check_eq "API with an unknown field: 400" 400 "$(tail -1 <<<"$OUT")"
check "CLI --rate that is no SIZE/s: refused naming --rate" bash -c "'$VSL' disk migrate $D --quality class=performance --rate fast 2>&1 | grep -q -- '--rate'"
check_eq "  members unchanged" "$BEFORE" "$(members)"

log "a failing destination array: the disk stays, whole; the destination is given back"
rm -f "$E2E_TMP/stop"
host_writer "$E2E_TMP/stop" 1
wait "$WRITER"
check_eq "h1 wrote some more (exit 0)" 0 "$?"
ajson POST /v1/test/faults '{"array":"broken","op":"grant","nth":1}' >/dev/null
check_fails "migrate onto broken fails" v disk migrate "$D" --quality class=broken
check_eq "  members unchanged" "$BEFORE" "$(members)"
check_eq "  D still mapped" mapped "$(vol_state "$D")"
check "  h1 reads everything it wrote" host_verify
check "  nothing of broken is in use" \
  bash -c "[[ \$(curl -s -H 'Authorization: Bearer $(cat "$DATA/admin.token")' '$VSL_API/v1/volumes?array=broken' | jq '[.volumes[] | select(.state != \"free\")] | length') == 0 ]]"
check "  nothing leaked" no_leak

log "kill -9 at each crash point, restart, one more migrate converges"
TARGETS=(class=performance class=capacity class=performance class=capacity)
i=0
for at in op.migrate.allocated op.migrate.granted op.migrate.copied op.migrate.switched; do
  Q=${TARGETS[$i]}
  i=$((i + 1))
  check "[$at] stop serve" crash_serve_stop
  serve_up "$at:1"
  rm -f "$E2E_TMP/stop"
  host_writer "$E2E_TMP/stop" 1
  wait "$WRITER"
  check_eq "[$at] h1 wrote (exit 0)" 0 "$?"
  # The reply may or may not make it out before the crash point kills serve.
  v disk migrate "$D" --quality "$Q" --no-wait >/dev/null 2>&1
  check "[$at] vsl serve died at the crash point" crash_serve_died "$at" 1
  serve_up ""
  check_eq "[$at] the requests ended after restart" "" "$(requests_settled 60)"
  check "[$at] one more migrate converges" v disk migrate "$D" --quality "$Q"
  check_eq "[$at] D is on ${Q#class=}" "$([[ $Q == class=performance ]] && echo perf || echo cap)" "$(arrays_of)"
  check_eq "[$at] D is mapped" mapped "$(vol_state "$D")"
  check "[$at] h1 reads everything it wrote" host_verify
  check "[$at] gateway and array files equal what h1 wrote" content_is_host_view
  check "[$at] nothing leaked" no_leak
done

log "not mapped: a configured unit, then a bound one, is copied and switched"
head -c $((3 * MiB)) /dev/urandom >"$E2E_TMP/img.raw"
check "image imported" v image import img "$E2E_TMP/img.raw"
C=$(v disk allocate --size 16MiB --quality class=fast3 --unit --meta --json | jq -r .result.volume)
check "unit C (2 members of 8 MiB on fast3)" test "$C" -gt 0
check "image copied onto C" v disk copy "$C" --image img
# unit_is_image UNIT: its members' files, one after another, are the image then zeros.
unit_is_image() {
  local m
  for m in $(ajson GET "/v1/volumes/$1" | jq -r '.members[].id'); do cat "$(vol_file "$m")"; done >"$E2E_TMP/c.raw"
  cmp -n $((3 * MiB)) "$E2E_TMP/c.raw" "$E2E_TMP/img.raw" && [[ $(tail -c +$((3 * MiB + 1)) "$E2E_TMP/c.raw" | tr -d '\0' | wc -c) == 0 ]]
}
COLD=$(ajson GET "/v1/volumes/$C" | jq -r '.members[].id')
check "migrate configured C to class=performance" v disk migrate "$C" --quality class=performance
check_eq "  C is configured, 1 member on perf" "configured 1 perf" \
  "$(vol_state "$C") $(ajson GET "/v1/volumes/$C" | jq '.members | length') $(ajson GET "/v1/volumes/$(ajson GET "/v1/volumes/$C" | jq '.members[0].id')" | jq -r .array)"
check "  C's new file holds the image" unit_is_image "$C"
for m in $COLD; do
  check_eq "  old member $m free" free "$(vol_state "$m")"
  check "  old member $m reads zero" zero_file "$(vol_file "$m")"
done
check "C bound to h1 at LUN 1 (not mapped)" v disk bind "$C" --host h1 --lun 1
check "migrate bound C back to class=fast3" v disk migrate "$C" --quality class=fast3
check_eq "  C is bound, 2 members" "bound 2" "$(vol_state "$C") $(ajson GET "/v1/volumes/$C" | jq '.members | length')"
check "  C's files hold the image" unit_is_image "$C"
check "  fast3 grants the gateway C's members" \
  bash -c "[[ \$(jq '[(.grants // {})[][]] | length' '$E2E_TMP/fast3/array.json') -ge 2 ]]"

log "FML: a disk whose drivetype names another class moves, mapped, through farm apply"
check "array spin added (class=spindle, a pool)" v array add spin --path "$E2E_TMP/spin" --capacity 32MiB \
  --quality class=spindle
check "host w1 added to the pool" v host add w1 --hw x86-vm --initiator iqn.2026-11.org.example:w1 \
  --chap-secret secret-of-w1-0123
fml() {
  cat <<FML
<?xml version="1.0"?>
<farm fmlversion="1.2" name="mig">
  <tier id="1" name="web"><role>web</role><init-servers>1</init-servers></tier>
  <server-role id="web"><hw>x86-vm</hw>
    <disk target="0" drivetype="$1" drivesize="8MB"/>
  </server-role>
</farm>
FML
}
fml spindle >"$E2E_TMP/mig.fml"
fml performance >"$E2E_TMP/mig2.fml"
check "farm apply (a spindle disk)" v farm apply "$E2E_TMP/mig.fml"
unit_array() { ajson GET "/v1/volumes/$(ajson GET "/v1/volumes/$1" | jq '.members[0].id')" | jq -r .array; }
W=""
for id in $(ajson GET "/v1/volumes?top=true&state=mapped" | jq -r '.volumes[] | select(.type == "meta") | .id'); do
  [[ $(unit_array "$id") == spin ]] && W=$id
done
check "the farm's disk is mapped, on spin" test -n "$W"
check "plan: one change, a live migrate to class=performance" \
  bash -c "'$VSL' farm plan '$E2E_TMP/mig2.fml' | tee '$E2E_TMP/plan.txt' | grep -q '0 to add, 1 to change, 0 to remove' &&
    grep -q '~ migrate .*class=performance' '$E2E_TMP/plan.txt'"
WSTATE=$E2E_TMP/w1.state
rm -f "$WSTATE" "$E2E_TMP/stop"
"$HOSTTOOL" iqn.2026-11.org.example:w1 "$(host_url w1 0)" write 1024 "$WSTATE" "$E2E_TMP/stop" 120 \
  >"$E2E_TMP/w1.out" 2>"$E2E_TMP/w1.err" &
WRITER=$!
sleep 1
check "farm apply of the changed file while w1 writes" v farm apply "$E2E_TMP/mig2.fml"
sleep 1
touch "$E2E_TMP/stop"
wait "$WRITER"
check_eq "w1's session: no write failed, all read back as last written (exit 0)" 0 "$?"
check_eq "the same disk, still mapped, now on perf" "mapped perf" "$(vol_state "$W") $(unit_array "$W")"
check "the farm's plan is empty now" bash -c "'$VSL' farm plan '$E2E_TMP/mig2.fml' | grep -q 'No changes'"

e2e_finish
