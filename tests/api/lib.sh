# shellcheck shell=bash
# Helpers for the API suites: start/stop/kill `vsl serve` on free ports, a
# throw-away PostgreSQL server when API_CATALOG=pg, JSON calls with curl.
# Source after tests/lib/common.sh and e2e_init.
#
#   VSL          the vsl binary (first argument of every script)
#   API_CATALOG  sqlite (default) or pg

API_CATALOG=${API_CATALOG:-sqlite}
CATALOG_URL=""

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
