#!/usr/bin/env bash
# Per-disk limits (issue 12, "Limits per disk") through the real binary and
# a real initiator (qemu-img bench over QEMU's iSCSI driver), rates measured
# from the gateway's own per-LU counters (GET /metrics) sampled while the
# load runs:
#   - a host at queue depth 32 against iops=1000 gets 1000 +- 5 % (after the
#     burst); `vsl disk qos --iops 2000` while it runs is reached within a
#     second; a second host on another disk of the same array, unlimited,
#     keeps its own rate (both figures printed); clearing the limit lets the
#     bench finish and it saw no I/O error
#   - write-iops and read-mbps hold writes and bytes likewise
#   - a disk shared by two hosts (queue depths 32 and 2) splits its limit
#     about evenly; when the machine is so loaded that the QD2 host cannot
#     send 500 commands a second, its commands are answered at the next
#     token and the QD32 host gets the rest
#   - bad values are refused by the CLI and the API, naming the flag/field,
#     and change nothing
#   - vsl serve killed (crash point op.qos.recorded: catalog written, gateway
#     not told) and restarted: the new limit holds, the request finishes
#   - FML: a disk's qos attribute applied; a changed one is one change in
#     `vsl farm plan` and holds the mapped disk under load within a second;
#     a bad one is refused naming line, column and key
# Usage: qos.sh VSL   (API_CATALOG=sqlite|pg)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
api_suite "$1" 300
command -v qemu-img >/dev/null || fail_now "qemu-img is not installed (scripts/deps.sh)"
serve_start "$E2E_TMP/data"

S1=$(chap_secret h1)
S2=$(chap_secret h2)
chap_hosts h1 h2
two_units 64MiB
check "A bound to h1 at LUN 0" v disk bind "$A" --host h1 --lun 0
check "B bound to h2 at LUN 0" v disk bind "$B" --host h2 --lun 0
check "A mapped" v disk map "$A"
check "B mapped" v disk map "$B"

secret() { [[ $1 == h1 ]] && echo "$S1" || echo "$S2"; }  # w1 joins later
# bench HOST LUN ARGS...: qemu-img bench on the host's LUN (4 KiB at QD32
# unless ARGS say otherwise).
bench() {
  local h=$1 lun=$2
  shift 2
  local opts="driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$h,lun=$lun"
  # qemu-img bench takes no --object: the CHAP secret goes as the iSCSI
  # driver's plain password option.
  opts+=",initiator-name=iqn.2026-11.org.test:$h,user=$h,password=$(secret "$h")"
  timeout 120 qemu-img bench --image-opts "$opts" \
    -t none -n -d 32 -s 4096 "$@"
}
# metrics: the gateway's counters, one read of /metrics.
metrics() { curl -s -H "Authorization: Bearer $(cat "$VSL_DATA/admin.token")" "$VSL_API/metrics"; }
# total METRIC HOST LUN OP < METRICS: the sum of the LU's METRIC series for OP.
total() {
  awk -v m="$1" -v h="host=\"$2\"" -v l="lun=\"$3\"" -v o="op=\"$4\"" \
    '$1 ~ "^"m"\\{" && index($1,h) && index($1,l) && index($1,o) {s+=$2} END {printf "%.6f\n", s}'
}
# pick HOST LUN OP [bytes] < METRICS: the LU's commands (or bytes) answered.
pick() {
  local what=commands n
  [[ ${4:-} == bytes ]] && what=bytes
  n=$(total "vsl_lu_${what}_total" "$1" "$2" "$3")
  echo "${n%.*}"
}
# counter HOST LUN OP [bytes]: the LU's commands (or bytes) answered so far.
counter() { metrics | pick "$@"; }
now() { date +%s.%N; }
# A rate is "RATE LOW HIGH" per second. Each counter is read at some instant
# between the clock readings taken just before and just after its /metrics
# call (a call that a loaded machine slows down); LOW and HIGH divide by the
# longest and the shortest window those instants allow, RATE by the window
# between the calls' midpoints.
rate_of() {  # rate_of COUNT0 BEFORE0 AFTER0 COUNT1 BEFORE1 AFTER1
  echo "d = $4 - $1; m = ($5 + $6 - $2 - $3) / 2; d / m; d / ($6 - $2); d / ($5 - $3)" | bc -l |
    xargs printf '%.1f %.1f %.1f\n'
}
# rate HOST LUN OP SECONDS [bytes]: over the next SECONDS.
rate() {
  local b0 c0 a0 b1 c1 a1
  b0=$(now) c0=$(counter "$1" "$2" "$3" "${5:-}") a0=$(now)
  sleep "$4"
  b1=$(now) c1=$(counter "$1" "$2" "$3" "${5:-}") a1=$(now)
  rate_of "$c0" "$b0" "$a0" "$c1" "$b1" "$a1"
}
# shown RATE: "RATE/s (LOW..HIGH)".
shown() { local r=($1); echo "${r[0]}/s (${r[1]}..${r[2]})"; }
# within RATE TARGET PERCENT: the rate's [LOW, HIGH] (or a single figure)
# meets TARGET +- PERCENT.
within() {
  local r=($1)
  local lo=${r[1]:-${r[0]}} hi=${r[2]:-${r[0]}}
  echo "$hi >= $2 * (1 - $3 / 100) && $lo <= $2 * (1 + $3 / 100)" | bc -l | grep -qx 1
}
# scaled RATE DIVISOR: each of the three numbers divided.
scaled() { local r=($1); echo "${r[0]} / $2; ${r[1]} / $2; ${r[2]} / $2" | bc -l | xargs printf '%.2f %.2f %.2f\n'; }
wait_rate() {  # wait_rate HOST LUN OP: until the LU has seen commands
  for _ in $(seq 50); do
    [[ $(counter "$1" "$2" "$3") -gt 0 ]] && return 0
    sleep 0.1
  done
  return 1
}

# QEMU's iSCSI driver answers reads of blocks the LU reports unmapped (GET
# LBA STATUS) with zeros itself: every block is written once first.
check "h1 fills A" bench h1 0 -w -c 16384
check "h2 fills B" bench h2 0 -w -c 16384

log "bad values are refused, naming what was wrong, and change nothing"
check_fails "--iops 0 (CLI)" v disk qos "$A" --iops 0
check "the CLI names the flag" bash -c "'$VSL' disk qos $A --iops 0 2>&1 | grep -q -- '--iops'"
check_fails "no limit and no --clear (CLI)" v disk qos "$A"
check_fails "limits with --clear (CLI)" v disk qos "$A" --iops 5 --clear
out=$(api POST "/v1/disks/qos?wait=true" "{\"volume\":$A,\"read_iops\":-3}")
check_eq "API read_iops -3: HTTP 400" 400 "$(tail -1 <<<"$out")"
check "the API names the field" grep -qF "field 'read_iops'" <<<"$(sed '$d' <<<"$out" | jq -r .error.message)"
out=$(api POST "/v1/disks/qos?wait=true" "{\"volume\":$A,\"speed\":3}")
check_eq "API unknown field: HTTP 400" 400 "$(tail -1 <<<"$out")"
check "the API names the unknown field" grep -qF "'speed'" <<<"$(sed '$d' <<<"$out" | jq -r .error.message)"
out=$(api POST "/v1/disks/qos?wait=true" "{\"volume\":$A,\"iops\":\"many\"}")
check_eq "API iops not a number: HTTP 400" 400 "$(tail -1 <<<"$out")"
check_eq "A has no limits" "{}" "$(ajson GET "/v1/volumes/$A" | jq -c .qos)"

log "h1 at QD32 against iops=1000; h2 unlimited on disk B of the same array"
check "qos iops=1000 on A" v disk qos "$A" --iops 1000
check_eq "volume show has the limit" '{"iops":1000}' "$(ajson GET "/v1/volumes/$A" | jq -c .qos)"
check "vsl volume show prints it" bash -c "'$VSL' volume show $A | grep -qx 'limits: iops=1000 (vsl disk qos changes them)'"
bench h2 0 -c 2000000 >"$E2E_TMP/b2.out" 2>&1 &
B2=$!
check "h2's bench is running" wait_rate h2 0 read
r2a=$(rate h2 0 read 2)
echo "h2 (unlimited) alone: $(shown "$r2a") IOPS"
bench h1 0 -c 60000 >"$E2E_TMP/b1.out" 2>&1 &
B1=$!
check "h1's bench is running" wait_rate h1 0 read
sleep 1  # past the burst
r1=$(rate h1 0 read 4)
echo "h1 (iops=1000): $(shown "$r1") IOPS"
check "h1 gets 1000 +- 5 % ($(shown "$r1"))" within "$r1" 1000 5
r2=$(rate h2 0 read 2)
echo "h2 (unlimited, same array, while h1 is held to 1000): $(shown "$r2") IOPS (alone: $(shown "$r2a"))"
r2low=${r2#* }
r2low=${r2low%% *}
check "h2 is not held to h1's limit ($r2low > 2000)" bash -c "echo '$r2low > 2000' | bc -l | grep -qx 1"

log "the limit raised to 2000 while the load runs"
check "qos iops=2000 on A" v disk qos "$A" --iops 2000
t_set=$(now)
sleep 1
r1b=$(rate h1 0 read 2)
echo "h1 from 1 s after the change: $(shown "$r1b") IOPS"
check "the new rate (2000 +- 5 %) is reached within a second ($(shown "$r1b"))" within "$r1b" 2000 5
check "h1's session never ended (the bench still runs)" kill -0 "$B1"
check "clear the limit" v disk qos "$A" --clear
check_eq "volume show: no limits" "{}" "$(ajson GET "/v1/volumes/$A" | jq -c .qos)"
wait "$B1"
check_eq "h1's bench finished without an I/O error" 0 "$?"
kill "$B2" 2>/dev/null
wait "$B2" 2>/dev/null
echo "qemu-img (h1): $(tail -1 "$E2E_TMP/b1.out")"

log "write-iops=500 holds writes; read-mbps=8 holds read bytes"
check "qos write-iops=500 on A" v disk qos "$A" --write-iops 500
bench h1 0 -w -c 3000 >"$E2E_TMP/b3.out" 2>&1 &
B3=$!
check "h1 writes" wait_rate h1 0 write
sleep 0.5
rw=$(rate h1 0 write 3)
echo "h1 writes (write-iops=500): $(shown "$rw") IOPS"
check "writes at 500 +- 5 % ($(shown "$rw"))" within "$rw" 500 5
wait "$B3"
check_eq "the write bench finished without an I/O error" 0 "$?"
check "qos read-mbps=8 on A" v disk qos "$A" --read-mbps 8
bench h1 0 -d 8 -s 65536 -c 800 >"$E2E_TMP/b4.out" 2>&1 &
B4=$!
sleep 0.7
rb=$(rate h1 0 read 2.5 bytes)
mib=$(scaled "$rb" 1048576)
echo "h1 reads 64 KiB (read-mbps=8): $(shown "$mib") MiB"
check "read bandwidth at 8 MiB/s +- 10 % ($(shown "$mib"))" within "$mib" 8 10
wait "$B4"
check_eq "the bandwidth bench finished without an I/O error" 0 "$?"

log "a disk shared by h1 (QD32) and h2 (QD2) splits iops=1000 between them"
check "A also bound to h2 at LUN 1" v disk bind "$A" --host h2 --lun 1
check "A mapped to h2" v disk map "$A" --host h2
check "qos iops=1000 on A" v disk qos "$A" --iops 1000
bench h1 0 -c 30000 >"$E2E_TMP/b5.out" 2>&1 &
B5=$!
bench h2 1 -d 2 -c 30000 >"$E2E_TMP/b6.out" 2>&1 &
B6=$!
check "h2 reads the shared disk" wait_rate h2 1 read
sleep 1
# Both hosts' counters from one read of /metrics, so they share an instant.
ba=$(now) ma=$(metrics) aa=$(now)
sleep 3
bb=$(now) mb=$(metrics) ab=$(now)
c1a=$(pick h1 0 read <<<"$ma") c2a=$(pick h2 1 read <<<"$ma")
c1b=$(pick h1 0 read <<<"$mb") c2b=$(pick h2 1 read <<<"$mb")
s1=$(rate_of "$c1a" "$ba" "$aa" "$c1b" "$bb" "$ab")
s2=$(rate_of "$c2a" "$ba" "$aa" "$c2b" "$bb" "$ab")
st=$(rate_of "$((c1a + c2a))" "$ba" "$aa" "$((c1b + c2b))" "$bb" "$ab")
# Each host's mean time in the gateway per command over the same window, ms.
# mean_ms HOST LUN COUNT0 COUNT1 METRICS0 METRICS1: from arrival to status, in
# vsl_lu_latency_seconds_sum.
mean_ms() {
  local w0 w1
  w0=$(total vsl_lu_latency_seconds_sum "$1" "$2" read <<<"$5")
  w1=$(total vsl_lu_latency_seconds_sum "$1" "$2" read <<<"$6")
  echo "if ($4 > $3) 1000 * ($w1 - $w0) / ($4 - $3)" | bc -l | xargs printf '%.2f'
}
w1=$(mean_ms h1 0 "$c1a" "$c1b" "$ma" "$mb") w2=$(mean_ms h2 1 "$c2a" "$c2b" "$ma" "$mb")
echo "shared disk: h1 (QD32) $(shown "$s1") IOPS, $w1 ms each in the gateway; h2 (QD2) $(shown "$s2") IOPS, $w2 ms each"
check "together 1000 +- 10 % ($(shown "$st"))" within "$st" 1000 10
# Fair is max-min fair: h2 gets half if it asks for half. At two commands in
# flight it asks for 2 / (time per command outside the gateway) a second:
# the time its initiator, the wire and the machine's scheduler take between
# an answer and the next command. On a loaded machine that can pass the 4 ms
# that 500/s allows; then the gateway must answer h2's commands at once (the
# next token, 1 ms apart) and give h1 what h2 leaves, and h2's rate is its
# own pace. A FIFO gateway would hold h2's commands behind h1's 32 (~60 ms).
o2=$(echo "if (${s2%% *} > 0) 2000 / ${s2%% *} - $w2" | bc -l | xargs printf '%.2f')
echo "h2 spends $o2 ms per command outside the gateway (two in flight: it could send $(echo "if ($o2 > 0.01) 2000 / $o2 else 200000" | bc)/s)"
if within "$s2" 500 10 || (($(echo "$o2 < 2000 / 450 - 1" | bc -l))); then
  check "h1 about half (500 +- 10 %): $(shown "$s1")" within "$s1" 500 10
  check "h2 about half (500 +- 10 %): $(shown "$s2")" within "$s2" 500 10
else
  echo "h2's own pace ($o2 ms a command outside the gateway) keeps it under half"
  check "h2's commands are answered at the next token: $w2 ms each in the gateway (<= 3), h1's $w1" \
    test "$(echo "$w2 <= 3" | bc -l)" = 1
  check "h1 takes the rest: $(shown "$s1") (>= 500)" test "$(echo "${s1##* } >= 500" | bc -l)" = 1
fi
check "clear" v disk qos "$A" --clear
wait "$B5"
check_eq "h1's bench on the shared disk finished without an I/O error" 0 "$?"
wait "$B6"
check_eq "h2's bench on the shared disk finished without an I/O error" 0 "$?"

log "vsl serve killed (SIGKILL) after the catalog has the new limit, before the gateway: the restart applies it"
serve_kill9
VSL_CRASH_AT=op.qos.recorded:1 serve_start "$E2E_TMP/data"
check_fails "vsl disk qos: the serve dies at op.qos.recorded" v disk qos "$A" --iops 1000
for _ in $(seq 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
check_not "the serve is gone" kill -0 "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
serve_start "$E2E_TMP/data"
check_eq "the catalog kept the limit" '{"iops":1000}' "$(ajson GET "/v1/volumes/$A" | jq -c .qos)"
bench h1 0 -c 6000 >"$E2E_TMP/b7.out" 2>&1 &
B7=$!
check "h1 reads after the restart" wait_rate h1 0 read
sleep 1
r7=$(rate h1 0 read 3)
echo "h1 after the kill and restart (iops=1000): $(shown "$r7") IOPS"
check "the limit holds after the restart: 1000 +- 5 % ($(shown "$r7"))" within "$r7" 1000 5
req=$(ajson GET "/v1/requests?op=qos&limit=1000" | jq -r '[.requests[] | select(.args.qos == "iops=1000")] | last | .id')
check "the cut-short qos request finished after the restart" \
  bash -c "for i in \$(seq 50); do [[ \$('$VSL' queue show $req | jq -r .state) == done ]] && exit 0; sleep 0.2; done; exit 1"
check "clear" v disk qos "$A" --clear
wait "$B7"
check_eq "the bench finished without an I/O error" 0 "$?"

log "FML: a disk's qos attribute applied, then changed under load through farm apply"
S3=0123456789abcdef-w1
check "host w1 added to the pool" v host add w1 --hw x86-vm --initiator iqn.2026-11.org.test:w1 --chap-secret "$S3"
fml() {
  cat <<FML
<?xml version="1.0"?>
<farm fmlversion="1.2" name="lim">
  <tier id="1" name="web"><role>web</role><init-servers>1</init-servers></tier>
  <server-role id="web"><hw>x86-vm</hw>
    <disk target="0" drivetype="scsi" drivesize="8MB">
      <attribute name="qos" value="$1"/>
    </disk>
  </server-role>
</farm>
FML
}
fml "iops=1000" >"$E2E_TMP/lim.fml"
fml "iops=2000" >"$E2E_TMP/lim2.fml"
fml "iops=2000,speed=9" >"$E2E_TMP/bad.fml"
check_fails "a bad qos attribute is refused" v farm plan "$E2E_TMP/bad.fml"
check "the error names the line, the column and the key" \
  bash -c "'$VSL' farm plan '$E2E_TMP/bad.fml' 2>&1 | grep -q \"bad.fml:6:29: qos: unknown qos key 'speed'\""
check "farm apply" v farm apply "$E2E_TMP/lim.fml"
W=$(ajson GET "/v1/volumes?top=true" | jq -r '.volumes[] | select(.qos.iops == 1000 and .state == "mapped") | .id' | head -1)
check "the farm's disk carries iops=1000" test -n "$W"
secret() { case $1 in h1) echo "$S1" ;; h2) echo "$S2" ;; *) echo "$S3" ;; esac; }
check "w1 fills its disk" bench w1 0 -w -c 2048
bench w1 0 -c 40000 >"$E2E_TMP/b8.out" 2>&1 &
B8=$!
check "w1 reads" wait_rate w1 0 read
sleep 1
r8=$(rate w1 0 read 3)
echo "farm disk (FML iops=1000): $(shown "$r8") IOPS"
check "the FML limit holds: 1000 +- 5 % ($(shown "$r8"))" within "$r8" 1000 5
check "plan: the changed attribute is one change, no remap" \
  bash -c "'$VSL' farm plan '$E2E_TMP/lim2.fml' | tee /dev/stderr | grep -q '0 to add, 1 to change, 0 to remove'"
check "plan names the new limits" bash -c "'$VSL' farm plan '$E2E_TMP/lim2.fml' | grep -q '~ set limits of .*: iops=2000'"
check "farm apply of the changed file" v farm apply "$E2E_TMP/lim2.fml"
sleep 1
r9=$(rate w1 0 read 2)
echo "farm disk from 1 s after apply (FML iops=2000): $(shown "$r9") IOPS"
check "the new FML limit is reached within a second ($(shown "$r9"))" within "$r9" 2000 5
check_eq "the catalog has it" 2000 "$(ajson GET "/v1/volumes/$W" | jq -r .qos.iops)"
check "the farm's plan is empty now" bash -c "'$VSL' farm plan '$E2E_TMP/lim2.fml' | grep -q 'No changes'"
check "clear through the CLI to let the bench end" v disk qos "$W" --clear
wait "$B8"
check_eq "w1's bench finished without an I/O error" 0 "$?"

serve_stop
check_eq "vsl serve exited cleanly" 0 "$?"

log "standalone vsl gateway: a LUN's \"qos\" in its JSON configuration"
GW_PORT=$(free_port)
head -c $((16 << 20)) /dev/urandom >"$E2E_TMP/gw.img"
cat >"$E2E_TMP/gw.json" <<JSON
{ "listen": "127.0.0.1:$GW_PORT", "iqn_prefix": "iqn.2026-11.org.vsl",
  "hosts": [ { "name": "h1", "initiator": "iqn.2026-11.org.test:h1",
               "chap": {"user": "h1", "secret": "$S1"},
               "luns": [ { "lun": 0, "qos": {"read_iops": 500},
                           "extents": [ {"path": "$E2E_TMP/gw.img", "length": $((16 << 20))} ] } ] } ] }
JSON
"$VSL" gateway --config "$E2E_TMP/gw.json" >"$E2E_TMP/gw.log" 2>&1 &
GW_PID=$!
e2e_on_exit "kill -9 $GW_PID"
wait_port "$GW_PORT" 20 "$GW_PID" || fail_now "vsl gateway did not start: $(tail -5 "$E2E_TMP/gw.log")"
PORTAL=127.0.0.1:$GW_PORT
# No /metrics here: the host's own count over its run (its 50-command burst
# included, hence 10 %).
out=$(bench h1 0 -c 2500)
check_eq "the bench finished without an I/O error" 0 "$?"
t=$(sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p' <<<"$out")
rg=$(echo "2500 / $t" | bc -l | xargs printf '%.1f')
echo "standalone gateway, read_iops=500: $rg IOPS (qemu-img: $t s for 2500 reads)"
check "the configured limit holds: 500 +- 10 % ($rg)" within "$rg" 500 10
kill -TERM "$GW_PID"
wait "$GW_PID"
check_eq "vsl gateway exited cleanly" 0 "$?"
e2e_finish
