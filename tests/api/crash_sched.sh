#!/usr/bin/env bash
# kill -9 of `vsl serve` inside a backup scheduler tick (issue 10,
# "Schedules"; docs/crash-points.md): at backup.schedule.claimed (the slot's
# claim and its backup request written, not committed) and at
# backup.schedule.queued (committed, the tick not finished). After a restart
# on the same data and catalog, with the test clock still in that slot and a
# tick more: exactly one backup request holds the slot and it ran (one more
# complete backup of the disk, not zero, not two), nothing is left queued or
# running, and a later tick queues nothing more for the slot.
#   crash_sched.sh VSL   (API_CATALOG=sqlite|pg)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
api_suite "$1" 150 farm/crash_lib

DATA=$E2E_TMP/data
STORE=$E2E_TMP/store
serve_up() {  # CRASH_AT: a serve whose scheduler clock starts at $VSL_TEST_CLOCK
  crash_serve "$DATA" "$1" --backup-dir "$STORE" --workers 1 ||
    fail_now "vsl serve did not start: $(tail -5 "$SERVE_LOG")"
}
clock() { ajson POST /v1/test/clock "$1"; }

export VSL_TEST_CLOCK=2027-01-15T00:30:00Z
serve_up ""
head -c $((1 << 20)) /dev/urandom >"$E2E_TMP/img.raw"
tv image import img "$E2E_TMP/img.raw" >/dev/null || fail_now "image import"
tv host add fa --hw x86-vm --initiator iqn.2026-11.org.example:fa >/dev/null || fail_now "host add fa"
cat >"$E2E_TMP/sch.fml" <<FML
<?xml version="1.0"?>
<farm fmlversion="1.2" name="sch">
  <tier id="1" name="app"><role>app</role><min-servers>1</min-servers><max-servers>1</max-servers><init-servers>1</init-servers></tier>
  <server-role id="app" name="App server">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="scsi" drivesize="4MiB">
      <diskimage type="system">img</diskimage>
      <attribute name="backup-policy" value="level=0:hourly" />
    </disk>
  </server-role>
</farm>
FML
tv farm apply "$E2E_TMP/sch.fml" >/dev/null || fail_now "farm apply"
FD=$(ajson GET /v1/bindings?host=fa | jq -r '.bindings[0].volume_id')
[[ $FD =~ ^[0-9]+$ ]] || fail_now "no disk bound to fa"
check_eq "00:31: the first sight claims the 00:00 slot as a baseline; nothing runs" "0" \
  "$(clock '{"set":"2027-01-15T00:31:00Z"}' | jq '.queued | length')"
crash_serve_stop || fail_now "serve did not stop"

# slot_requests SLOT: the backup requests of the disk for that slot, one a line.
slot_requests() {
  ajson GET '/v1/requests?limit=100000' |
    jq -r --argjson d "$FD" --arg s "$1" '.requests[] | select(.op == "backup" and .args.volume == $d and .args.slot == $s) | .id'
}
complete_backups() { ajson GET "/v1/backups?disk=$FD" | jq '[.backups[] | select(.state == "complete")] | length'; }

# kill_in_tick POINT HOUR: a serve armed at POINT dies in the tick that
# reaches HOUR:05 (the HOUR:00 slot due); a serve without crash points on the
# same data, its clock at HOUR:05, must run that slot exactly once.
kill_in_tick() {
  local point=$1 h=$2 slot="2027-01-15T$2:00:00Z" before n r
  log "killed at $point in the tick of the $h:00 slot"
  export VSL_TEST_CLOCK=2027-01-15T$(printf %02d $((10#$h - 1))):45:00Z
  serve_up "$point:1"
  before=$(complete_backups)
  check_eq "$point: no request for the $h:00 slot yet" "" "$(slot_requests "$slot")"
  check_eq "$point: the tick at $h:05 gets no answer (the serve dies)" 000 \
    "$(api POST /v1/test/clock "{\"set\":\"2027-01-15T$h:05:00Z\"}" | tail -1)"
  check "$point: vsl serve died at the crash point" crash_serve_died "$point" 1
  export VSL_TEST_CLOCK=2027-01-15T$h:05:00Z
  serve_up ""
  check_eq "$point: a tick after the restart" "[]" "$(clock '{"advance_ms":60000}' | jq -c .errors)"
  check_eq "$point: nothing left queued or running" "" "$(requests_settled 60)"
  n=$(slot_requests "$slot" | grep -c .)
  check_eq "$point: exactly one backup request holds the $h:00 slot" 1 "$n"
  r=$(slot_requests "$slot" | head -1)
  check_eq "$point: it is done" done "$(ajson GET "/v1/requests/$r" | jq -r .state)"
  check_eq "$point: exactly one more complete backup of the disk" $((before + 1)) "$(complete_backups)"
  check_eq "$point: no backup row left running" 0 \
    "$(ajson GET "/v1/backups?disk=$FD" | jq '[.backups[] | select(.state == "running")] | length')"
  check_eq "$point: the slot's claims name that request" "$r" \
    "$(ajson GET "/v1/backups/schedules/runs?disk=$FD" |
      jq -r --arg s "$slot" '[.runs[] | select(.slot == $s) | .request] | unique | map(tostring) | join(",")')"
  check_eq "$point: a later tick in the slot queues nothing" 0 "$(clock '{"advance_ms":600000}' | jq '.queued | length')"
  check_eq "$point: still one request for the slot" 1 "$(slot_requests "$slot" | grep -c .)"
  crash_serve_stop
}

kill_in_tick backup.schedule.claimed 01
kill_in_tick backup.schedule.queued 02
e2e_finish
