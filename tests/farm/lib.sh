# shellcheck shell=bash
# Helpers for the farm suites: `vsl serve` on free ports and a fresh data
# directory, hosts with known CHAP secrets, qemu-io against a host's LUN.
# Source after tests/lib/common.sh and e2e_init; VSL is the vsl binary.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# farm_serve DATA [ARGS...]: starts vsl serve; exports VSL_API and VSL_DATA.
# --config '': the machine's /etc/vsl/vsl.conf (the .deb's) is not the test's.
farm_serve() {
  local data=$1
  shift
  API_PORT=$(free_port)
  ISCSI_PORT=$(free_port)
  SERVE_LOG=$E2E_TMP/serve.$RANDOM.log
  "$VSL" serve --config '' --data "$data" --api "127.0.0.1:$API_PORT" --iscsi "127.0.0.1:$ISCSI_PORT" \
    --default-capacity "${FARM_CAPACITY:-64GiB}" "$@" >"$SERVE_LOG" 2>&1 &
  SERVE_PID=$!
  e2e_on_exit "kill -TERM $SERVE_PID; sleep 2; kill -9 $SERVE_PID"
  export VSL_API="http://127.0.0.1:$API_PORT" VSL_DATA="$data"
  PORTAL="127.0.0.1:$ISCSI_PORT"
  wait_port "$API_PORT" 30 "$SERVE_PID" || fail_now "vsl serve did not start: $(tail -20 "$SERVE_LOG")"
}

farm_serve_stop() {
  kill -TERM "$SERVE_PID"
  wait "$SERVE_PID"
}

v() { "$VSL" "$@"; }

# add_host NAME HW: the host's initiator and secret are derived from its name.
add_host() {
  v host add "$1" --hw "$2" --initiator "iqn.2026-11.org.example:$1" --chap-secret "secret-of-$1-0123" >/dev/null
}

# lun_io HOST LUN CMD: qemu-io CMD on LUN of HOST's target, as that host.
lun_io() {
  qemu-io --object "secret,id=s0,data=secret-of-$1-0123" --image-opts \
    "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$1,lun=$2,initiator-name=iqn.2026-11.org.example:$1,user=$1,password-secret=s0" \
    -c "$3"
}

# lun_size HOST LUN: the LUN's size in bytes, per qemu-img.
lun_size() {
  qemu-img info --output=json --object "secret,id=s0,data=secret-of-$1-0123" --image-opts \
    "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$1,lun=$2,initiator-name=iqn.2026-11.org.example:$1,user=$1,password-secret=s0" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])'
}

# console_ready HOST [SECONDS]: waits for the host's boot sector to finish.
console_ready() {
  local i
  for ((i = 0; i < ${2:-60} * 5; i++)); do
    v host console "$1" 2>/dev/null | grep -q '^vsl-farm: ready' && return 0
    sleep 0.2
  done
  return 1
}

# fml_copy SRC NAME EDIT...: SRC copied to $E2E_TMP/NAME.fml with sed EDITs.
fml_copy() {
  local src=$1 name=$2 out
  shift 2
  out=$(mktemp -d "$E2E_TMP/fml.XXXXXX")/$name.fml
  cp "$src" "$out"
  local e
  for e in "$@"; do sed -i "$e" "$out"; done
  echo "$out"
}
