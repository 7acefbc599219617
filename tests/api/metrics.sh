#!/usr/bin/env bash
# GET /metrics scraped by a real Prometheus server (Debian's `prometheus`)
# from a running `vsl serve`: the test maps a unit to a host and writes to
# it (qemu-io, CHAP), makes a login with a wrong secret, applies a farm,
# then asks Prometheus's own HTTP API (/api/v1/query) for the series and
# compares them with what it did (logins, an auth_failed login failure, the
# bytes written and read on h1's LU, its commands, latency histograms, unit
# attentions and queue depth, a farm ready) and with what the API says
# (volumes by FIG. 7 state, used and free bytes, finished and failed
# requests, histogram counts). The endpoint's door: 401 without a token,
# 401 with the admin token when --metrics-token-file is given, 200 with that
# token; a token file other users can read is refused at start;
# --metrics-open answers without a token. Usage: metrics.sh VSL
# (API_CATALOG=sqlite|pg)
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 180
command -v prometheus >/dev/null || fail_now "prometheus is not installed (scripts/deps.sh)"
command -v qemu-io >/dev/null || fail_now "qemu-io is not installed (scripts/deps.sh)"
catalog_init

log "a metrics token other users can read is refused"
TOKEN_FILE=$E2E_TMP/metrics.token
echo "metrics-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$TOKEN_FILE"
chmod 644 "$TOKEN_FILE"
out=$("$VSL" serve --config '' --data "$E2E_TMP/refused" --api 127.0.0.1:0 --iscsi 127.0.0.1:0 \
  --metrics-token-file "$TOKEN_FILE" 2>&1)
check_eq "vsl serve exits with the usage status" 2 "$?"
check "the error names the file and the fix" grep -qF "chmod 600 $TOKEN_FILE" <<<"$out"
chmod 600 "$TOKEN_FILE"
METRICS_TOKEN=$(cat "$TOKEN_FILE")

serve_start "$E2E_TMP/data" --metrics-token-file "$TOKEN_FILE"

code() { curl -s -o /dev/null -w '%{http_code}' "$@" "$VSL_API/metrics"; }
check_eq "no token: 401" 401 "$(code)"
check_eq "the admin token: 401 (the endpoint has its own)" 401 \
  "$(code -H "Authorization: Bearer $(cat "$VSL_DATA/admin.token")")"
check_eq "the metrics token: 200" 200 "$(code -H "Authorization: Bearer $METRICS_TOKEN")"
check_eq "the content type is the text format 0.0.4" "text/plain; version=0.0.4; charset=utf-8" \
  "$(curl -s -o /dev/null -w '%{content_type}' -H "Authorization: Bearer $METRICS_TOKEN" "$VSL_API/metrics")"

ROOT=$(cd "$HERE/../.." && pwd)
sed "s|/etc/prometheus/vsl-metrics.token|$TOKEN_FILE|" "$ROOT/examples/prometheus.yml" >"$E2E_TMP/example.yml"
check "examples/prometheus.yml passes promtool check config" promtool check config "$E2E_TMP/example.yml"

log "Prometheus scrapes vsl serve every second"
PROM_PORT=$(free_port)
PROM_DIR=$E2E_TMP/prometheus
mkdir -p "$PROM_DIR/data"
cat >"$PROM_DIR/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: vsl
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: $TOKEN_FILE
    static_configs:
      - targets: ["127.0.0.1:$API_PORT"]
YML
prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$PROM_DIR/log" 2>&1 &
PROM_PID=$!
e2e_on_exit "kill -TERM $PROM_PID; sleep 1; kill -9 $PROM_PID"
wait_port "$PROM_PORT" 30 "$PROM_PID" || fail_now "prometheus did not start: $(tail -5 "$PROM_DIR/log")"
PROM="http://127.0.0.1:$PROM_PORT"

# prom EXPR: the value of a one-series instant query ("" when none).
prom() {
  curl -s --get --data-urlencode "query=$1" "$PROM/api/v1/query" | jq -r '.data.result[0].value[1] // ""'
}
# prom_eq DESCRIPTION EXPECTED EXPR: waits (15 s at most: scrapes lag) until
# Prometheus answers EXPECTED, then checks it.
prom_eq() {
  local i got=""
  for ((i = 0; i < 30; i++)); do
    got=$(prom "$3")
    [[ $got == "$2" ]] && break
    sleep 0.5
  done
  check_eq "$1" "$2" "$got"
}

prom_eq "the target is up" 1 'up{job="vsl"}'
prom_eq "the catalog answers" 1 'vsl_catalog_up'
check "process_resident_memory_bytes is above 1 MiB" \
  test "$(prom 'process_resident_memory_bytes > 1048576')" != ""
check "process_open_fds is between 1 and process_max_fds" \
  test "$(prom 'process_open_fds > 0 and process_open_fds < process_max_fds')" != ""

log "a unit mapped to host h1 and written through iSCSI"
SECRET=0123456789abcdef-h1
check "host h1 added" v host add h1 --hw std --initiator iqn.2026-11.org.test:h1 --chap-secret "$SECRET"
V=$(v disk allocate --size 16MiB --json | jq -r '.result.volumes[0]')
check "a 16 MiB volume allocated" test "$V" -gt 0
V=$(v disk configure "$V" --json | jq -r .result.volume)
check "and configured" test "$V" -gt 0
check "bound to h1 at LUN 0" v disk bind "$V" --host h1 --lun 0
check "mapped" v disk map "$V"
qio() {
  timeout 60 qemu-io --object "secret,id=s0,data=$1" --image-opts \
    "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:h1,lun=0,initiator-name=iqn.2026-11.org.test:h1,user=h1,password-secret=s0" \
    -c "$2"
}
check "h1 writes 3 MiB" qio "$SECRET" "write -P 0x5a 0 3M"
check "h1 reads them back" qio "$SECRET" "read -P 0x5a 0 3M"
check_fails "a login with a wrong CHAP secret is refused" qio "wrong-secret-0123456" "read 0 512"

prom_eq "two logins succeeded" 2 'vsl_gateway_logins_total'
prom_eq "one login failed, for auth_failed" 1 'vsl_gateway_login_failures_total{reason="auth_failed"}'
prom_eq "no other login failure" 1 'sum(vsl_gateway_login_failures_total)'
prom_eq "no session is left" 0 'vsl_gateway_sessions'
prom_eq "no connection is left" 0 'vsl_gateway_connections'
prom_eq "no R2T is outstanding" 0 'vsl_gateway_r2ts_outstanding'

log "h1's LU 0: the bytes, commands and latencies of what it did"
LU='host="h1",lun="0"'
prom_eq "written bytes equal the 3 MiB written" 3145728 "vsl_lu_bytes_total{$LU,op=\"write\"}"
prom_eq "read bytes equal the 3 MiB read" 3145728 "vsl_lu_bytes_total{$LU,op=\"read\"}"
writes=$(prom "vsl_lu_commands_total{$LU,op=\"write\"}")
check "write commands were counted" test "${writes:-0}" -ge 1
prom_eq "the write latency histogram counts every write" "$writes" "vsl_lu_latency_seconds_count{$LU,op=\"write\"}"
prom_eq "and its +Inf bucket too" "$writes" "vsl_lu_latency_seconds_bucket{$LU,op=\"write\",le=\"+Inf\"}"
reads=$(prom "vsl_lu_commands_total{$LU,op=\"read\"}")
prom_eq "the read latency histogram counts every read" "$reads" "vsl_lu_latency_seconds_count{$LU,op=\"read\"}"
check "the latency sum is positive" test "$(prom "vsl_lu_latency_seconds_sum{$LU,op=\"write\"} > 0")" != ""
prom_eq "nothing is queued on the LU" 0 "vsl_lu_queue_depth{$LU}"
# SPC-4: each new I_T nexus gets a POWER ON unit attention on its first
# command; h1 logged in twice (the wrong secret never got a session).
prom_eq "one UNIT ATTENTION per session" 2 "vsl_lu_errors_total{$LU,sense_key=\"unit_attention\"}"
prom_eq "no other error" 2 "sum(vsl_lu_errors_total{$LU})"
prom_eq "no write buffer is held" 0 'vsl_gateway_write_buffer_bytes'

log "a farm applied"
check "host w1 added to the pool" v host add w1 --hw x86-vm --initiator iqn.2026-11.org.test:w1 \
  --chap-secret 0123456789abcdef-w1
cat >"$E2E_TMP/one.fml" <<'FML'
<?xml version="1.0"?>
<farm fmlversion="1.2">
  <tier id="1" name="web">
    <role>web-server</role>
    <min-servers>1</min-servers>
    <max-servers>1</max-servers>
    <init-servers>1</init-servers>
  </tier>
  <server-role id="web-server" name="Web server">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="scsi" drivesize="8MB" />
  </server-role>
</farm>
FML
check "farm apply" v farm apply "$E2E_TMP/one.fml"
check_eq "the farm is ready (API)" ready "$(v farm list --json | jq -r '.farms[0].state')"
prom_eq "one farm ready" 1 'vsl_farms{state="ready"}'
prom_eq "no farm applying or failed" 0 'sum(vsl_farms{state=~"applying|failed|destroying"})'

log "the control plane's series match the API"
ajson GET /v1/volumes >"$E2E_TMP/volumes.json"
mapped=$(jq '[.volumes[] | select(.state == "mapped" and .array_id != null)] | length' "$E2E_TMP/volumes.json")
check "two volumes are mapped (h1's and the farm's)" test "$mapped" -eq 2
prom_eq "vsl_volumes{state=mapped} equals the API's count" "$mapped" 'sum(vsl_volumes{state="mapped"})'
used=$(jq '[.volumes[] | select(.state != "free" and .array_id != null) | .size] | add' "$E2E_TMP/volumes.json")
prom_eq "vsl_array_used_bytes equals the API's volumes" "$used" 'vsl_array_used_bytes{array="default"}'
cap=$(ajson GET /v1/arrays | jq '.arrays[] | select(.name == "default") | .capacity')
prom_eq "used + free = capacity" "$cap" 'vsl_array_used_bytes{array="default"} + vsl_array_free_bytes{array="default"}'
ajson GET "/v1/requests?limit=1000" >"$E2E_TMP/requests.json"
done_n=$(jq '[.requests[] | select(.state == "done")] | length' "$E2E_TMP/requests.json")
failed_n=$(jq '[.requests[] | select(.state == "failed")] | length' "$E2E_TMP/requests.json")
check "requests finished" test "$done_n" -gt 3
prom_eq "requests done equal the queue's" "$done_n" 'sum(vsl_requests_finished_total{state="done"})'
prom_eq "requests failed equal the queue's" "$failed_n" 'sum(vsl_request_failures_total)'
prom_eq "the duration histogram counts every finished request" "$((done_n + failed_n))" \
  'sum(vsl_request_duration_seconds_count)'
maps=$(jq '[.requests[] | select(.op == "map" and (.state == "done" or .state == "failed"))] | length' \
  "$E2E_TMP/requests.json")
prom_eq "the map requests' +Inf bucket equals their count" "$maps" \
  'vsl_request_duration_seconds_bucket{op="map",le="+Inf"}'
prom_eq "nothing is queued or running" 0 'sum(vsl_request_queue_depth)'

log "examples/grafana-dashboard.json: every query runs on Prometheus"
jq -r '.panels[].targets[]?.expr' "$ROOT/examples/grafana-dashboard.json" |
  sed 's/\$__rate_interval/1m/g; s/\$job/.*/g' >"$E2E_TMP/exprs"
check "the dashboard has queries" test "$(wc -l <"$E2E_TMP/exprs")" -ge 10
bad=0
while IFS= read -r expr; do
  st=$(curl -s --get --data-urlencode "query=$expr" "$PROM/api/v1/query" | jq -r .status)
  [[ $st == success ]] || { echo "query failed: $expr"; bad=$((bad + 1)); }
done <"$E2E_TMP/exprs"
check_eq "every dashboard query is accepted" 0 "$bad"
check "the throughput panel shows h1's writes" test "$(prom 'sum by (host, op) (rate(vsl_lu_bytes_total{host="h1",op="write"}[1m]))')" != ""

log "Prometheus stops; --metrics-open answers without a token"
kill -TERM "$PROM_PID"
wait "$PROM_PID"
check_eq "prometheus exited cleanly" 0 "$?"
serve_stop
check_eq "vsl serve exited 0" 0 "$?"
serve_start "$E2E_TMP/data" --metrics-open
check_eq "no token: 200" 200 "$(code)"
check "the body is the text format" bash -c "curl -s '$VSL_API/metrics' | grep -q '^# TYPE vsl_farms gauge$'"
check_eq "the rest of the API still wants the admin token" 401 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$VSL_API/v1/volumes")"
serve_stop
check_eq "vsl serve exited 0" 0 "$?"
e2e_finish
