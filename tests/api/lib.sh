# shellcheck shell=bash
# Helpers for the API suites: start/stop/kill `vsl serve` on free ports, a
# throw-away PostgreSQL server when API_CATALOG=pg, JSON calls with curl,
# hosts with CHAP and their disks through QEMU's initiator.
# Source after tests/lib/common.sh and e2e_init, or (an API or Ceph suite)
# alone, with the libraries it needs, and call api_suite:
#
#   HERE=$(cd "$(dirname "$0")" && pwd)
#   source "$HERE/lib.sh"
#   api_suite "$1" DEADLINE [farm/crash_lib ...]
#
#   VSL          the vsl binary (first argument of every script)
#   API_CATALOG  sqlite (default) or pg

declare -F e2e_init >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

API_CATALOG=${API_CATALOG:-sqlite}
CATALOG_URL=""
_API_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# pg_start: initdb + pg_ctl as the postgres user in a fresh directory,
# listening on a unix socket only; sets CATALOG_URL.
pg_start() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  [[ -x $bin/pg_ctl ]] || fail_now "PostgreSQL server binaries are not installed"
  PG_DIR=$(mktemp -d /tmp/vsl-api-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  local as=()
  if [[ $(id -u) == 0 ]]; then
    chown postgres "$PG_DIR"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
    fail_now "initdb failed: $(tail -5 "$PG_DIR/initdb.log")"
  "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -w -t 60 -l "$PG_DIR/server.log" \
    -o "-k $PG_DIR -c listen_addresses='' -F -c max_connections=200" start >/dev/null 2>&1 ||
    fail_now "PostgreSQL did not start: $(tail -5 "$PG_DIR/server.log")"
  e2e_on_exit "${as[*]} $bin/pg_ctl -D $PG_DIR/data -m immediate -w stop; rm -rf $PG_DIR"
  "${as[@]}" "$bin/createdb" -h "$PG_DIR" -U postgres vsl || fail_now "createdb failed"
  CATALOG_URL="postgresql://postgres@/vsl?host=$PG_DIR"
}

# catalog_init: the catalog back end the suite runs on.
catalog_init() {
  if [[ $API_CATALOG == pg ]]; then
    pg_start
    log "catalog: PostgreSQL ($CATALOG_URL)"
  else
    log "catalog: SQLite in the data directory"
  fi
}

# api_suite VSL DEADLINE [LIB...]: what an API suite starts with: strict
# mode (set -uo pipefail), VSL the binary's absolute path, e2e_init
# DEADLINE, each LIB (a path under tests/ without .sh) sourced, and the
# catalog (catalog_init).
api_suite() {
  set -uo pipefail
  VSL=$(realpath "$1")
  local _api_deadline=$2 _api_lib
  shift 2
  e2e_init "$_api_deadline"
  for _api_lib in "$@"; do
    # shellcheck source=/dev/null
    source "$_API_TESTS_DIR/$_api_lib.sh" || fail_now "cannot source tests/$_api_lib.sh"
  done
  catalog_init
}

# serve_start DATA [ARGS...]: starts vsl serve (test faults on, 2 s leases)
# and waits for its API; exports VSL_API and VSL_DATA for the CLI. A port
# lost to another program between the pick and the listen is picked again.
# --config '': the machine's /etc/vsl/vsl.conf (the .deb's) is not the test's.
serve_start() {
  local data=$1 try
  shift
  local cat=()
  [[ -n $CATALOG_URL ]] && cat=(--catalog "$CATALOG_URL")
  for try in 1 2 3; do
    API_PORT=$(free_port)
    ISCSI_PORT=$(free_port)
    SERVE_LOG=$E2E_TMP/serve.$RANDOM.log
    "$VSL" serve --config '' --data "$data" --api "127.0.0.1:$API_PORT" --iscsi "127.0.0.1:$ISCSI_PORT" \
      --lease-ms "${SERVE_LEASE_MS:-2000}" ${SERVE_TEST_FAULTS---test-faults} "${cat[@]}" "$@" >"$SERVE_LOG" 2>&1 &
    SERVE_PID=$!
    e2e_on_exit "kill -9 $SERVE_PID"
    export VSL_API="http://127.0.0.1:$API_PORT" VSL_DATA="$data"
    PORTAL="127.0.0.1:$ISCSI_PORT"
    wait_port "$API_PORT" 30 "$SERVE_PID" && return 0
    wait "$SERVE_PID" 2>/dev/null
    grep -q 'cannot listen on' "$SERVE_LOG" || break
    log "vsl serve lost a port to another program (try $try): $(grep -m1 'cannot listen' "$SERVE_LOG")"
  done
  fail_now "vsl serve did not start: $(tail -20 "$SERVE_LOG")"
}

# serve_stop: SIGTERM, and it must exit 0.
serve_stop() {
  kill -TERM "$SERVE_PID"
  wait "$SERVE_PID"
}

serve_kill9() {
  kill -9 "$SERVE_PID"
  wait "$SERVE_PID" 2>/dev/null || true
}

v() { "$VSL" "$@"; }

# api METHOD PATH [BODY]: curl with the admin token; prints the body, then
# the HTTP status on its own last line.
api() {
  local token
  token=$(cat "$VSL_DATA/admin.token")
  curl -s -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${3:+--data-binary "$3"} -w '\n%{http_code}\n' "$VSL_API$2"
}

# ajson METHOD PATH [BODY]: the reply's JSON only (fails on HTTP >= 400).
ajson() {
  local out code
  out=$(api "$@")
  code=$(tail -1 <<<"$out")
  sed '$d' <<<"$out"
  [[ $code -lt 400 ]]
}

# vol_state ID: the volume's state.
vol_state() { ajson GET "/v1/volumes/$1" | jq -r .state; }

# request_wait ID: waits (30 s at most) until request ID is done or failed;
# prints its state then (the last one seen, when it got to neither).
request_wait() {
  local st i
  for ((i = 0; i < 300; i++)); do
    st=$(ajson GET "/v1/requests/$1" | jq -r .state)
    [[ $st == "done" || $st == failed ]] && break
    sleep 0.1
  done
  echo "$st"
}

# chap_secret HOST: the CHAP secret the suites give HOST.
chap_secret() { echo "0123456789abcdef-$1"; }

# chap_hosts HOST...: adds each HOST (hardware std, initiator
# iqn.2026-11.org.test:HOST, CHAP secret `chap_secret HOST`), a check each.
chap_hosts() {
  local h
  for h in "$@"; do
    check "host $h added" v host add "$h" --hw std --initiator "iqn.2026-11.org.test:$h" \
      --chap-secret "$(chap_secret "$h")"
  done
}

# two_units SIZE: allocates two units of SIZE on the default array and sets
# A and B to their volume ids (one check).
two_units() {
  A=$(v disk allocate --size "$1" --unit --json | jq -r .result.volume)
  B=$(v disk allocate --size "$1" --unit --json | jq -r .result.volume)
  check "two units allocated" test "$A" -gt 0 -a "$B" -gt 0
}

# qemu_opts HOST LUN: QEMU's --image-opts for HOST's LUN on $PORTAL, logged
# in as HOST with its CHAP secret (the secret object s0 that qemu_io and
# qemu_grab define).
qemu_opts() {
  echo "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$1,lun=$2,initiator-name=iqn.2026-11.org.test:$1,user=$1,password-secret=s0"
}

# qemu_io HOST LUN CMD...: qemu-io commands on HOST's LUN; fails when
# qemu-io does or when any of them says error or failed.
qemu_io() {
  local host=$1 lun=$2 args=() out c
  shift 2
  for c in "$@"; do args+=(-c "$c"); done
  out=$(timeout 120 qemu-io --object "secret,id=s0,data=$(chap_secret "$host")" \
    --image-opts "$(qemu_opts "$host" "$lun")" "${args[@]}" 2>&1) || return 1
  ! grep -qiE "error|failed" <<<"$out"
}

# qemu_grab HOST LUN OUT: HOST's LUN, whole, into the raw file OUT.
qemu_grab() {
  timeout 120 qemu-img convert --object "secret,id=s0,data=$(chap_secret "$1")" \
    --image-opts "$(qemu_opts "$1" "$2")" -O raw "$3"
}
