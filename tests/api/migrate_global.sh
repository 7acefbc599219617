#!/usr/bin/env bash
# Live migration of a farm-global disk through apply (issue 12,
# docs/migration.md "Through apply"), with the real binary and real
# initiators:
#   - farm "gm": two servers (hosts h1, h2) that both see the global disk
#     "data" (16 MiB, raid-level 1: on array r1) at LUN 0
#   - h1 writes checksummed, sequence-numbered 4 KiB blocks at random places
#     in ONE session (tests/tools/iscsi_migrate_host.c, no reconnection)
#     while the FML's raid-level, changed to 5, is applied: the plan is one
#     "~ migrate global disk" change; afterwards the unit (same id) lies on
#     r5, still mapped to both hosts, its old members free and zero; no
#     write failed, every block reads back as last written (h1's session),
#     h2 reads the same content through the gateway, r5's files hold it;
#     `farm show` says raid-level 5 and one more plan is empty
#   - raid-level back to 1, apply with vsl serve killed (kill -9) at crash
#     point op.migrate.copied; after a restart, apply again converges onto
#     r1, the content is whole for both hosts and on r1's files, nothing
#     leaked, and one more plan is empty
# Usage: migrate_global.sh VSL   (API_CATALOG=sqlite|pg)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
api_suite "$1" 180 farm/crash_lib lib/migrate_host
migrate_host_build

DATA=$E2E_TMP/data
MiB=$((1 << 20))
serve_up() { crash_serve "$DATA" "$1" || fail_now "vsl serve did not start: $(tail -5 "$SERVE_LOG")"; }
serve_up ""

check "array r1 added (raid=1)" v array add r1 --path "$E2E_TMP/r1" --capacity 32MiB --quality raid=1
check "array r5 added (raid=5, 8 MiB volumes)" v array add r5 --path "$E2E_TMP/r5" --capacity 32MiB \
  --volume-size 8MiB --quality raid=5
for h in h1 h2; do
  check "host $h added to the pool" v host add "$h" --hw x86-vm --initiator "iqn.2026-11.org.example:$h" \
    --chap-secret "secret-of-$h-0123"
done
fml() {
  cat <<FML
<?xml version="1.0"?>
<farm fmlversion="1.2" name="gm">
  <tier id="1" name="db"><role>db</role><init-servers>2</init-servers></tier>
  <farm-global-disks>
    <global-disk global-name="data" drivesize="16MiB">
      <attribute name="raid-level" value="$1"/>
    </global-disk>
  </farm-global-disks>
  <server-role id="db"><hw>x86-vm</hw>
    <shared-disk global-name="data" target="0"/>
  </server-role>
</farm>
FML
}
fml 1 >"$E2E_TMP/r1.fml"
fml 5 >"$E2E_TMP/r5.fml"
check "farm apply (the global disk on raid=1, mapped into both servers)" v farm apply "$E2E_TMP/r1.fml"
G=$(ajson GET /v1/farms/gm | jq -r '.global_disks[0].unit')
check "the global disk's unit is known" test "$G" -gt 0 2>/dev/null

BLOCKS=$((16 * MiB / 4096))
STATE=$E2E_TMP/h1.state
INI=iqn.2026-11.org.example:h1
members() { members_of "$G"; }
arrays_of() { unit_arrays "$G"; }
# lun_of HOST: what HOST reads at LUN 0 through the gateway, into FILE $2.
lun_of() {
  rm -f "$2"
  timeout 60 qemu-img convert -O raw --object "secret,id=s0,data=secret-of-$1-0123" --image-opts \
    "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$1,lun=0,initiator-name=iqn.2026-11.org.example:$1,user=$1,password-secret=s0" \
    "$2"
}
# content_whole: h1's session-independent verify, both hosts' views through
# the gateway and the unit's member files one after another all equal what
# h1 wrote.
content_whole() {
  host_verify >/dev/null || { echo "h1's verify failed"; return 1; }
  "$HOSTTOOL" expect "$BLOCKS" "$STATE" "$E2E_TMP/expect.raw" >/dev/null || return 1
  local h m
  for h in h1 h2; do
    lun_of "$h" "$E2E_TMP/$h.raw" || { echo "$h cannot read LUN 0"; return 1; }
    cmp "$E2E_TMP/$h.raw" "$E2E_TMP/expect.raw" || { echo "$h's view differs"; return 1; }
  done
  for m in $(members); do cat "$(vol_file "$m")"; done >"$E2E_TMP/files.raw"
  cmp -n $((16 * MiB)) "$E2E_TMP/files.raw" "$E2E_TMP/expect.raw" || { echo "the array files differ"; return 1; }
}
# no_leak: no volume in use but the global disk and its members; every free
# volume on r1 and r5 reads zero.
no_leak() {
  local used want f id
  used=$(ajson GET '/v1/volumes?limit=100000' | jq -r '[.volumes[] | select(.state != "free") | .id] | sort | .[]' | sort -n | xargs)
  want=$(echo "$G $(members)" | tr ' ' '\n' | sort -n | xargs)
  [[ $used == "$want" ]] || { echo "in use: $used; expected only the global disk and its members: $want"; return 1; }
  for id in $(ajson GET '/v1/volumes?state=free&limit=100000' | jq -r '.volumes[] | select(.array == "r1" or .array == "r5") | .id'); do
    f=$(vol_file "$id")
    [[ -f $f ]] || continue
    zero_file "$f" || { echo "free volume $id ($f) holds data"; return 1; }
  done
}
mapped_to() { ajson GET "/v1/volumes/$G" | jq -r '[.bindings[] | select(.mapped) | .host] | sort | join(" ")'; }

check_eq "the global disk is on r1, mapped" "r1 mapped" "$(arrays_of) $(vol_state "$G")"
check_eq "h1 and h2 both see it at LUN 0" "0 0" "$(host_luns h1) $(host_luns h2)"

log "raid-level 1 -> 5 through apply while h1 writes"
check "plan: one change, a live migrate of the global disk to raid=5" \
  bash -c "'$VSL' farm plan '$E2E_TMP/r5.fml' | tee '$E2E_TMP/plan.txt' | grep -q '0 to add, 1 to change, 0 to remove' &&
    [[ \$(grep -c '^~ migrate global disk \"data\" to storage with raid=5' '$E2E_TMP/plan.txt') == 1 ]] &&
    [[ \$(grep -c '^[~+-]' '$E2E_TMP/plan.txt') == 1 ]]"
cat "$E2E_TMP/plan.txt"
OLD=$(members)
rm -f "$STATE" "$E2E_TMP/stop"
host_writer "$E2E_TMP/stop"
sleep 1
T0=$(now_ms)
check "farm apply of the changed file while h1 writes" v farm apply "$E2E_TMP/r5.fml"
T1=$(now_ms)
sleep 1
touch "$E2E_TMP/stop"
wait "$WRITER"
check_eq "h1's session: no write failed, no reconnection, all read back as last written (exit 0)" 0 "$?"
head -5 "$E2E_TMP/writer.err"
tail -1 "$E2E_TMP/writer.out"
# The apply may take less than the writer's half-second tick: what is
# asserted is one session writing across it (acknowledged writes before it
# started and more after it ended), not how many during it.
check "h1's one session wrote before the apply and went on writing after it" \
  awk -v a="$T0" -v b="$T1" '$1 == "tick" && $2 < a {w0 = $3} $1 == "tick" && $2 > b {w1 = $3}
    END {exit !(w0 > 0 && w1 > w0)}' "$E2E_TMP/writer.out"
check_eq "the same unit, still mapped, now on r5" "mapped r5" "$(vol_state "$G") $(arrays_of)"
check_eq "  mapped to both servers' hosts" "h1 h2" "$(mapped_to)"
check_eq "  the farm record says raid_level 5" 5 "$(ajson GET /v1/farms/gm | jq -r '.global_disks[0].raid_level')"
check "  farm show says raid-level 5" bash -c "'$VSL' farm show gm | grep -q 'global disk data: .*raid-level 5'"
for m in $OLD; do
  check_eq "old member $m is free" free "$(vol_state "$m")"
  check "old member $m's file reads zero (scrubbed)" zero_file "$(vol_file "$m")"
done
check "content: h1's verify, h1's and h2's views and r5's files equal what h1 wrote" content_whole
check "the farm's plan is empty now" bash -c "'$VSL' farm plan '$E2E_TMP/r5.fml' | grep -q 'No changes'"
check "nothing leaked" no_leak

log "raid-level 5 -> 1, vsl serve killed at op.migrate.copied, restart, apply converges"
check "stop serve" crash_serve_stop
serve_up "op.migrate.copied:1"
rm -f "$E2E_TMP/stop"
host_writer "$E2E_TMP/stop" 1
wait "$WRITER"
check_eq "h1 wrote more (exit 0)" 0 "$?"
check_fails "farm apply: serve dies under it" tv farm apply "$E2E_TMP/r1.fml"
check "vsl serve died at op.migrate.copied" crash_serve_died op.migrate.copied 1
serve_up ""
check "apply after the restart completes" tv farm apply "$E2E_TMP/r1.fml"
check_eq "the requests ended" "" "$(requests_settled 60)"
check_eq "the unit is on r1, mapped to both hosts" "r1 mapped h1 h2" "$(arrays_of) $(vol_state "$G") $(mapped_to)"
check_eq "  the farm record says raid_level 1" 1 "$(ajson GET /v1/farms/gm | jq -r '.global_disks[0].raid_level')"
check "content: whole for both hosts and on r1's files" content_whole
check "one more plan is empty" bash -c "'$VSL' farm plan '$E2E_TMP/r1.fml' | grep -q 'No changes'"
check "nothing leaked" no_leak

e2e_finish
