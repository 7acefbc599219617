#!/usr/bin/env bash
# GET /metrics of the standalone `vsl gateway --metrics HOST:PORT`: its doors
# (a token file others can read, no token and no --metrics-open, and the
# wrong token are all refused; --metrics-open answers), and its figures
# against what qemu-io did through a real session.
#   gateway_metrics.sh VSL
set -uo pipefail
VSL=$(realpath "$1")
source "$(dirname "$0")/../lib/common.sh"
e2e_init 120

INI=iqn.2026-11.org.example:web1
SECRET=web1-secret-0123
make_file "$E2E_TMP/web1.img" 8M
cat >"$E2E_TMP/gw.json" <<JSON
{ "listen": "127.0.0.1:0", "iqn_prefix": "iqn.2026-11.org.vsl",
  "hosts": [ { "name": "web1", "initiator": "$INI", "chap": {"user": "web1", "secret": "$SECRET"},
               "luns": [ { "lun": 0, "extents": [ {"path": "$E2E_TMP/web1.img", "offset": 0, "length": 8388608} ] } ] } ] }
JSON
TOKEN=metrics-token-$RANDOM-0123456789
(umask 077 && echo "$TOKEN" >"$E2E_TMP/token")
cp "$E2E_TMP/token" "$E2E_TMP/open-token" && chmod 0644 "$E2E_TMP/open-token"

log "doors"
out=$("$VSL" gateway --config "$E2E_TMP/gw.json" --metrics 127.0.0.1:0 --metrics-token-file "$E2E_TMP/open-token" 2>&1)
check_eq "a token file others can read: exit 2" "$?" 2
check "saying which chmod fixes it" grep -q "chmod 600" <<<"$out"
out=$("$VSL" gateway --config "$E2E_TMP/gw.json" --metrics 127.0.0.1:0 2>&1)
check_eq "neither a token nor --metrics-open: exit 2" "$?" 2
check "saying what it needs" grep -q "needs --metrics-token-file FILE" <<<"$out"
out=$("$VSL" gateway --config "$E2E_TMP/gw.json" --metrics nowhere 2>&1)
check_eq "an address without a port: exit 2" "$?" 2
check "naming the flag" grep -q -- "--metrics 'nowhere'" <<<"$out"

gateway_up "$VSL" "$E2E_TMP/gw.json" gw
gw_args=("--config" "$E2E_TMP/gw.json")
"$VSL" gateway "${gw_args[@]}" --metrics 127.0.0.1:0 --metrics-token-file "$E2E_TMP/token" \
  >"$E2E_TMP/m.out" 2>"$E2E_TMP/m.err" &
MGW=$!
e2e_on_exit "stop_pid $MGW 10"
wait_for_file_line "$E2E_TMP/m.out" '^vsl gateway: metrics on ' 30 "$MGW" || fail_now "no metrics line: $(cat "$E2E_TMP/m.err")"
M=$(sed -n 's/^vsl gateway: metrics on //p' "$E2E_TMP/m.out")
P=$(sed -n 's/^vsl gateway: listening on //p' "$E2E_TMP/m.out")
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check_eq "no token: 401" "$(code "http://$M/metrics")" 401
check_eq "a wrong token: 401" "$(code -H "Authorization: Bearer wrong-token-0123456789" "http://$M/metrics")" 401
check_eq "the token: 200" "$(code -H "Authorization: Bearer $TOKEN" "http://$M/metrics")" 200
check_eq "no other path, even with the token" \
  "$(code -H "Authorization: Bearer $TOKEN" "http://$M/v1/hosts")" 401

log "figures after qemu-io through a session"
opts="driver=iscsi,transport=tcp,portal=$P,target=iqn.2026-11.org.vsl:web1,lun=0,initiator-name=$INI,user=web1,password-secret=s0"
check "write 1 MiB and read 2 MiB" qemu-io --object "secret,id=s0,data=$SECRET" --image-opts "$opts" \
  -c "write -P 0x5a 0 1M" -c "read -P 0x5a 0 1M" -c "read -P 0x5a 0 1M"
scrape=$(curl -s -H "Authorization: Bearer $TOKEN" "http://$M/metrics")
metric() { awk -v k="$1" '$1 == k {print $2}' <<<"$scrape"; }
check_eq "one login" "$(metric vsl_gateway_logins_total)" 1
check_eq "1 MiB written on web1's LUN 0" "$(metric 'vsl_lu_bytes_total{host="web1",lun="0",op="write"}')" 1048576
check_eq "2 MiB read (the written MiB twice; qemu skips reading holes)" "$(metric 'vsl_lu_bytes_total{host="web1",lun="0",op="read"}')" 2097152
check "the process's own figures" grep -q '^process_open_fds [0-9]' <<<"$scrape"
check_not "no control-plane families (no catalog here)" grep -q '^vsl_catalog_up' <<<"$scrape"

log "--metrics-open"
"$VSL" gateway "${gw_args[@]}" --metrics 127.0.0.1:0 --metrics-open >"$E2E_TMP/o.out" 2>"$E2E_TMP/o.err" &
OGW=$!
e2e_on_exit "stop_pid $OGW 10"
wait_for_file_line "$E2E_TMP/o.out" '^vsl gateway: metrics on ' 30 "$OGW" || fail_now "no metrics line: $(cat "$E2E_TMP/o.err")"
O=$(sed -n 's/^vsl gateway: metrics on //p' "$E2E_TMP/o.out")
check_eq "answers without a token" "$(code "http://$O/metrics")" 200
kill -TERM "$MGW"
wait "$MGW"
check_eq "SIGTERM: the gateway with metrics exits 0" "$?" 0
e2e_finish
