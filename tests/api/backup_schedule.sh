#!/usr/bin/env bash
# Backup schedules (issue 10, "Schedules"), through the real binary: the
# scheduler in `vsl serve` reads a test clock (VSL_TEST_CLOCK under
# --test-faults; POST /v1/test/clock sets it and runs a tick), so the test
# moves time across slots instead of sleeping.
#  - schedule times and retention set with `vsl backup schedule set`; bad
#    times and a bad FML backup-policy are refused naming what is wrong;
#  - a farm from FML with level=0:nightly and level=1:hourly: its first
#    sight is a baseline (nothing runs), then each hourly slot a level 1
#    (the first as a full: nothing to build on) and the nightly a level 0,
#    each at its slot and only then;
#  - serve stopped across five hourly slots: after restart the latest
#    missed slot runs once, the others never;
#  - never two backups of one disk at once (a manual one in flight holds
#    the scheduled one back);
#  - --keep 1: the older fulls go with their incrementals, from the store
#    and the catalog;
#  - PostgreSQL: two serves tick the same slot at once; it runs once.
# Usage: backup_schedule.sh VSL   (API_CATALOG=sqlite|pg)
set -uo pipefail
VSL=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 240
catalog_init
STORE=$E2E_TMP/store
DATA=$E2E_TMP/data
export VSL_TEST_CLOCK=2027-01-15T00:30:00Z
serve_start "$DATA" --backup-dir "$STORE" --workers 1

log "schedule times and retention; bad input refused naming what is wrong"
check_eq "defaults: nightly 02:00, hourly :00, keep all" "nightly 02:00 0,hourly :00 0" \
  "$(v backup schedule list --json | jq -r '[.schedules[] | "\(.name) \(.at) \(.keep)"] | join(",")')"
check_fails "nightly --at 25:00" v backup schedule set nightly --at 25:00
out=$(v backup schedule set nightly --at 25:00 2>&1)
check "it says HH:MM" grep -qF "HH:MM" <<<"$out"
check_fails "hourly --at 02:00 (an hourly time is :MM)" v backup schedule set hourly --at 02:00
out=$(api PUT /v1/backups/schedules/weekly '{"at":"02:00"}')
check_eq "an unknown schedule: HTTP 400" 400 "$(tail -1 <<<"$out")"
check "it names the schedules there are" grep -qF "nightly or hourly" <<<"$out"
out=$(api PUT /v1/backups/schedules/nightly '{"keep":-1}')
check_eq "keep -1: HTTP 400 naming the field" "400 field 'keep'" \
  "$(tail -1 <<<"$out") $(sed '$d' <<<"$out" | jq -r .error.message | grep -o "field 'keep'")"
check "nightly at 02:00" v backup schedule set nightly --at 02:00
check "hourly at :15" v backup schedule set hourly --at :15
check_eq "the list says so, with the next slots by the scheduler's clock" \
  "nightly 02:00 2027-01-15T02:00:00Z,hourly :15 2027-01-15T01:15:00Z" \
  "$(v backup schedule list --json | jq -r '[.schedules[] | "\(.name) \(.at) \(.next)"] | join(",")')"

head -c $((1024 * 1024)) /dev/urandom >"$E2E_TMP/img.raw"
check "image img imported" v image import img "$E2E_TMP/img.raw"
check "host fa added" v host add fa --hw x86-vm --initiator iqn.2026-11.org.test:fa
fml() {  # fml POLICY-ATTRIBUTES: the farm's file
  cat <<FML
<?xml version="1.0"?>
<farm fmlversion="1.2" name="sch">
  <tier id="1" name="app"><role>app</role><min-servers>1</min-servers><max-servers>1</max-servers><init-servers>1</init-servers></tier>
  <server-role id="app" name="App server">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="scsi" drivesize="64MiB">
      <diskimage type="system">img</diskimage>
$1
    </disk>
  </server-role>
</farm>
FML
}
fml '      <attribute name="backup-policy" value="level=0:nightly" />
      <attribute name="backup-policy" value="level=1:weekly" />' >"$E2E_TMP/bad.fml"
out=$(v farm plan "$E2E_TMP/bad.fml" 2>&1)
check "a farm with backup-policy level=1:weekly is refused at plan" test $? -ne 0
check "naming its line (9) and the schedule" grep -qE 'bad.fml:9:[0-9]+: backup-policy "level=1:weekly": unknown schedule' <<<"$out"
check_fails "and at apply" v farm apply "$E2E_TMP/bad.fml"
check_eq "no farm was made" "0" "$(ajson GET /v1/farms | jq '[.farms[] | select(.name == "sch")] | length')"

fml '      <attribute name="backup-policy" value="level=0:nightly" />
      <attribute name="backup-policy" value="level=1:hourly" />' >"$E2E_TMP/sch.fml"
check "farm sch applied (level=0:nightly, level=1:hourly)" v farm apply "$E2E_TMP/sch.fml"
FD=$(ajson GET /v1/bindings?host=fa | jq -r '.bindings[0].volume_id')
check "its disk is mapped to fa" test "$FD" -gt 0

clock() { ajson POST /v1/test/clock "$1"; }
set_clock() { clock "{\"set\":\"$1\"}"; }
# wait_req ID: waits (bounded) for the request to finish; prints its state.
wait_req() {
  local i st=""
  for ((i = 0; i < 600; i++)); do
    st=$(ajson GET "/v1/requests/$1" | jq -r .state)
    [[ $st == done || $st == failed ]] && break
    sleep 0.1
  done
  echo "$st"
}
# run_at SLOT-TIME: the request that claimed this slot of the disk (any level).
run_at() { ajson GET "/v1/backups/schedules/runs?disk=$FD" | jq -r --arg s "$1" '[.runs[] | select(.slot == $s and .request != null) | .request] | unique | join(",")'; }
backups() { ajson GET "/v1/backups?disk=$FD" | jq -r '[.backups[] | select(.state == "complete") | "\(.level)"] | join("")'; }

log "first sight at 00:30: the latest slots are the baseline; nothing runs"
check_eq "nothing is queued" "0" "$(set_clock 2027-01-15T00:30:00Z | jq '.queued | length')"
check_eq "the baseline slots" \
  "nightly 0 2027-01-14T02:00:00Z baseline,hourly 1 2027-01-15T00:15:00Z baseline" \
  "$(ajson GET "/v1/backups/schedules/runs?disk=$FD" | jq -r '[.runs | reverse[] | "\(.schedule) \(.level) \(.slot) \(.state)"] | join(",")')"
check "vsl backup schedule runs shows both as baseline" bash -c \
  "'$VSL' backup schedule runs --disk $FD | grep -c ' baseline' | grep -qx 2"
check_eq "no backup request" "0" \
  "$(ajson GET /v1/requests?limit=100000 | jq '[.requests[] | select(.op == "backup")] | length')"

log "01:14: nothing; 01:15: the hourly slot, as a full (nothing to build a level 1 on yet)"
check_eq "at 01:14 nothing is queued" "0" "$(set_clock 2027-01-15T01:14:59Z | jq '.queued | length')"
out=$(set_clock 2027-01-15T01:15:00Z)
check_eq "at 01:15 a level 0 for the level 1 slot 01:15" "0 1 2027-01-15T01:15:00Z" \
  "$(jq -r '.queued[0] | "\(.level) \(.slots[0].level) \(.slots[0].slot)"' <<<"$out")"
R=$(jq -r '.queued[0].request' <<<"$out")
check_eq "queued by the scheduler, saying why it is a full" "scheduler true" \
  "$(ajson GET "/v1/requests/$R" | jq -r '"\(.actor) \(.args.why | test("no complete backup"))"')"
check_eq "it finished" done "$(wait_req "$R")"
check_eq "one level 0 backup" "0" "$(backups)"
check_eq "a second tick in the same hour queues nothing" "0" "$(clock '{"advance_ms":600000}' | jq '.queued | length')"

log "02:00: the nightly level 0; 02:15: a level 1 on it"
out=$(set_clock 2027-01-15T02:00:30Z)
check_eq "at 02:00 a level 0 for the nightly slot" "0 nightly 2027-01-15T02:00:00Z" \
  "$(jq -r '.queued[0] | "\(.level) \(.slots[0].schedule) \(.slots[0].slot)"' <<<"$out")"
check_eq "it finished" done "$(wait_req "$(jq -r '.queued[0].request' <<<"$out")")"
out=$(set_clock 2027-01-15T02:15:00Z)
check_eq "at 02:15 a level 1" "1" "$(jq -r '.queued[0].level' <<<"$out")"
check_eq "it finished" done "$(wait_req "$(jq -r '.queued[0].request' <<<"$out")")"
NEWFULL=$(ajson GET "/v1/backups?disk=$FD" | jq -r '[.backups[] | select(.level == 0)][1].id')
check_eq "its parent is the 02:00 full" "$NEWFULL" \
  "$(ajson GET "/v1/backups?disk=$FD" | jq -r '.backups[-1].parent')"
check_eq "0 0 1 in the catalog" "001" "$(backups)"

log "never two backups of one disk at once: a manual backup queued holds the 03:15 slot back"
# The one worker (--workers 1) is held in a copy on the fault array, so the
# manual backup stays queued for as long as the test needs.
check "fault array slow added" v array add slow --driver fault:file --path "$E2E_TMP/slow" --capacity 8MiB \
  --volume-size 4MiB --quality tier=slow
U=$(v disk allocate --size 4MiB --quality tier=slow --unit --json | jq -r .result.volume)
check "a unit on it" test "$U" -gt 0
ajson POST /v1/test/faults '{"array":"slow","op":"copy","stall":true}' >/dev/null
C=$(v disk copy "$U" --image img --no-wait --json | jq -r .request.id)
for ((i = 0; i < 100; i++)); do
  [[ $(ajson GET "/v1/requests/$C" | jq -r .state) == running ]] && break
  sleep 0.05
done
check_eq "the copy holds the worker" running "$(ajson GET "/v1/requests/$C" | jq -r .state)"
M=$(v backup run "$FD" --level 0 --no-wait --json | jq -r .request.id)
check_eq "the manual backup is queued" queued "$(ajson GET "/v1/requests/$M" | jq -r .state)"
check_eq "at 03:15 nothing is queued while it is pending" "0" "$(set_clock 2027-01-15T03:15:00Z | jq '.queued | length')"
check_eq "the 03:15 slot is not claimed" "" "$(run_at 2027-01-15T03:15:00Z)"
ajson POST /v1/test/faults '{"array":"slow","op":"copy","heal":true}' >/dev/null
check_eq "the copy finished" done "$(wait_req "$C")"
check_eq "the manual backup finished" done "$(wait_req "$M")"
out=$(clock '{"advance_ms":1000}')
S=$(jq -r '.queued[0].request // empty' <<<"$out")
check "the 03:15 slot ran once the disk was free" test -n "$S"
check_eq "it finished" done "$(wait_req "$S")"
check_eq "one request for slot 03:15" "$S" "$(run_at 2027-01-15T03:15:00Z)"

log "serve stopped from 03:15 to 07:40: the latest missed slot runs once"
before=$(ajson GET /v1/requests?limit=100000 2>/dev/null | jq '[.requests[] | select(.op == "backup")] | length')
check "serve stops" serve_stop
export VSL_TEST_CLOCK=2027-01-15T07:40:00Z
serve_start "$DATA" --backup-dir "$STORE" --workers 1
for ((i = 0; i < 100; i++)); do
  [[ -n $(run_at 2027-01-15T07:15:00Z) ]] && break
  sleep 0.1
done
R=$(run_at 2027-01-15T07:15:00Z)
check "the 07:15 slot was queued at start" test -n "$R"
check_eq "it finished" done "$(wait_req "$R")"
check_eq "as a level 1" "1" "$(ajson GET "/v1/backups?disk=$FD" | jq -r '.backups[-1].level')"
for t in 04:15 05:15 06:15; do
  check_eq "the missed $t slot never runs" "" "$(run_at "2027-01-15T${t}:00Z")"
done
check_eq "a tick later queues nothing more" "0" "$(clock '{"advance_ms":60000}' | jq '.queued | length')"
after=$(ajson GET /v1/requests?limit=100000 | jq '[.requests[] | select(.op == "backup")] | length')
check_eq "exactly one backup request since the restart" $((before + 1)) "$after"

log "retention: nightly --keep 1 keeps the newest full and its incrementals"
check "nightly --keep 1" v backup schedule set nightly --keep 1
check "vsl backup schedule list shows it" bash -c "'$VSL' backup schedule list | grep -qE '^nightly +02:00 UTC +1 '"
out=$(set_clock 2027-01-16T02:00:10Z)
check_eq "the next night: a level 0 covering the nightly and the 01:15 hourly slot" "0 2" \
  "$(jq -r '.queued[0] | "\(.level) \(.slots | length)"' <<<"$out")"
LAST=$(jq -r '.queued[0].request' <<<"$out")
check_eq "it finished" done "$(wait_req "$LAST")"
KEEP=$(ajson GET "/v1/requests/$LAST" | jq -r '.result.backup')
OLD=$(ajson GET "/v1/backups?disk=$FD" | jq -r --arg k "$KEEP" '[.backups[] | select(.id != $k) | .id] | join(" ")')
check "older backups exist before the prune" test -n "$OLD"
clock '{"advance_ms":1000}' >/dev/null
check_eq "the disk keeps one backup: the newest full" "$KEEP" \
  "$(ajson GET "/v1/backups?disk=$FD" | jq -r '[.backups[] | .id] | join(" ")')"
gone=0
for id in $OLD; do
  [[ -e $STORE/$id || -e $STORE/backups/$id ]] && gone=$((gone + 1))
done
check_eq "none of the older ones is left in the store" 0 "$gone"
check_fails "vsl backup show of a pruned one fails" v backup show "${OLD%% *}"
check "the kept one verifies" v backup verify "$KEEP"
check "an event on the disk names what retention deleted" bash -c \
  "curl -s -H 'Authorization: Bearer $(cat "$DATA/admin.token")' '$VSL_API/v1/events?entity=volume&entity_id=$FD&limit=100000' | jq -r '.events[] | select(.op == \"backup-retention\") | .detail' | grep -qF '${OLD%% *}'"

if [[ $API_CATALOG == pg ]]; then
  log "two serves on one PostgreSQL tick the same slot at once: it runs once"
  D2=$E2E_TMP/data2
  S2_LOG=$E2E_TMP/serve2.log
  VSL_TEST_CLOCK=2027-01-16T02:00:11Z "$VSL" serve --config '' --data "$D2" --api 127.0.0.1:0 --iscsi 127.0.0.1:0 \
    --test-faults --backup-dir "$STORE" --catalog "$CATALOG_URL" >"$S2_LOG" 2>&1 &
  S2_PID=$!
  e2e_on_exit "kill -9 $S2_PID"
  for ((i = 0; i < 300; i++)); do
    grep -qs '^vsl serve: iSCSI on' "$S2_LOG" && break
    sleep 0.05
  done
  S2_API=http://127.0.0.1:$(sed -n 's|^vsl serve: API on http://127.0.0.1:\([0-9]*\)$|\1|p' "$S2_LOG")
  check "the second serve runs" alive "$S2_PID"
  T2=$(cat "$D2/admin.token")
  T1=$(cat "$DATA/admin.token")
  tick2() {  # tick2 API TOKEN OUT: sets that serve's clock to 03:15 (a tick)
    curl -s -X POST -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
      --data-binary '{"set":"2027-01-16T03:15:00Z"}' "$1/v1/test/clock" >"$3"
  }
  tick2 "$VSL_API" "$T1" "$E2E_TMP/t1.json" &
  p1=$!
  tick2 "$S2_API" "$T2" "$E2E_TMP/t2.json" &
  p2=$!
  wait $p1 $p2
  check_eq "the two ticks queued one backup between them" 1 \
    "$(jq -s '[.[].queued | length] | add' "$E2E_TMP/t1.json" "$E2E_TMP/t2.json")"
  check_eq "one request holds the 03:15 slot" 1 "$(run_at 2027-01-16T03:15:00Z | tr ',' '\n' | grep -c .)"
  check_eq "one backup request names that slot" 1 \
    "$(ajson GET /v1/requests?limit=100000 | jq --argjson d "$FD" '[.requests[] | select(.op == "backup") | .args | select(.volume == $d and .slot == "2027-01-16T03:15:00Z")] | length')"
  check "the second serve stops" stop_pid "$S2_PID"
fi

log "no two backup requests of the disk ever overlapped"
overlaps=$(ajson GET /v1/requests?limit=100000 | jq --argjson d "$FD" '
  [.requests[] | select(.op == "backup") | select(.args.volume == $d)
   | {c: .created_ms, f: (if .finished_ms > 0 then .finished_ms else 9e18 end)}] | sort_by(.c) as $r
  | [range(1; $r | length) | select($r[.].c < $r[. - 1].f)] | length')
check_eq "none" 0 "$overlaps"
check "serve stops" serve_stop
e2e_finish
