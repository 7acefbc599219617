#!/usr/bin/env bash
# Farm jobs are joined and reaped: 300 applies of an unchanged farm through
# the API leave `vsl serve` with the threads and the address space it had
# after 10 (today each apply leaves a thread behind, and its stack).
#   farm_threads.sh VSL   (API_CATALOG=sqlite|pg)
set -uo pipefail
VSL=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../api/lib.sh"
source "$HERE/crash_lib.sh"
e2e_init 240
catalog_init

crash_serve "$E2E_TMP/data" "" || fail_now "vsl serve did not start: $(tail -5 "$SERVE_LOG")"
v host add t1 --hw x86-vm --initiator iqn.2026-11.org.example:t1 >/dev/null || fail_now "host add"
FML=$(cat <<'EOF'
<?xml version="1.0"?>
<farm fmlversion="1.2" name="steady">
  <tier id="1" name="app">
    <role>app</role>
    <min-servers>1</min-servers>
    <max-servers>1</max-servers>
    <init-servers>1</init-servers>
  </tier>
  <server-role id="app" name="App server">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="scsi" drivesize="1MiB" />
  </server-role>
</farm>
EOF
)
BODY=$(jq -n --arg f "$FML" '{fml: $f}')
TOKEN=$(cat "$E2E_TMP/data/admin.token")
# apply_n N: N applies, one after the other, each waited for.
FAILED=0
apply_n() {
  local i out
  for ((i = 0; i < $1; i++)); do
    out=$(curl -s -X POST -H "Authorization: Bearer $TOKEN" --data-binary "$BODY" "$VSL_API/v1/farms/apply?wait=true")
    [[ $(jq -r .state <<<"$out") == "done" ]] || { FAILED=$((FAILED + 1)); echo "apply: $out" | head -c 300; }
  done
}
status_of() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$CRASH_SERVE_PID/status"; }

apply_n 10
sleep 0.5
T10=$(status_of Threads)
V10=$(status_of VmSize)
apply_n 290
sleep 0.5
T300=$(status_of Threads)
V300=$(status_of VmSize)
log "threads: $T10 after 10 applies, $T300 after 300; VmSize: $V10 kB after 10, $V300 kB after 300"
check_eq "all 300 applies succeeded" 0 "$FAILED"
check "the farm is ready" bash -c "'$VSL' farm show steady | grep -q '^farm steady: ready$'"
check "threads after 300 applies ($T300) <= after 10 ($T10) + 2" test "$T300" -le $((T10 + 2))
check "VmSize after 300 applies ($V300 kB) <= after 10 ($V10 kB) + 64 MiB" test "$V300" -le $((V10 + 65536))
check "vsl serve stops cleanly" crash_serve_stop
e2e_finish
