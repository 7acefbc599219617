# shellcheck shell=bash
# The target under test, behind one interface: vsl's gateway or tgt (tgtd),
# chosen by E2E_TARGET (vsl, the default, or tgt). Both are configured from
# the same vsl gateway JSON (docs: `vsl gateway --config`), minus "listen",
# which target_start fills with a free port.
#
# Needs common.sh. Globals after target_start: TARGET_PORT, TARGET_PORTAL,
# TARGET_PID, TARGET_PREFIX, TARGET_LOG.
#
# Differences a script must go through these helpers for:
#  * tgt reserves LUN 0 for its controller: `target_lun N` gives the LUN
#    number an initiator uses for the configuration's LUN N.
#  * tgt backs a LUN with one whole file: a LUN of several extents (or of a
#    part of a file) is served from a flat copy of its extents instead, which
#    `target_flat_backing HOST LUN` names (empty for vsl).

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_TARGET=${E2E_TARGET:-vsl}
TARGET_PID=
TARGET_STARTS=0

# target_use_args "$@": takes the vsl binary path from a script's first
# argument (or $VSL_BIN) and checks what the chosen target needs.
target_use_args() {
  VSL_BIN=${1:-${VSL_BIN:-}}
  case "$E2E_TARGET" in
    vsl)
      [[ -n "$VSL_BIN" && -x "$VSL_BIN" ]] ||
        fail_now "vsl binary '$VSL_BIN' is not executable (pass it as the first argument or VSL_BIN; or E2E_TARGET=tgt)"
      ;;
    tgt)
      command -v tgtd >/dev/null && command -v tgtadm >/dev/null ||
        fail_now "E2E_TARGET=tgt but tgtd/tgtadm are not installed"
      ;;
    *) fail_now "E2E_TARGET must be vsl or tgt, not '$E2E_TARGET'" ;;
  esac
  if [[ "$E2E_TARGET" == vsl ]]; then
    log "target under test: vsl ($VSL_BIN)"
  else
    log "target under test: $E2E_TARGET"
  fi
}

target_lun() {
  if [[ "$E2E_TARGET" == tgt ]]; then echo $(($1 + 1)); else echo "$1"; fi
}

target_name() {
  echo "$TARGET_PREFIX:$1"
}

# target_url HOST LUN [USER SECRET]: the libiscsi URL of configuration LUN
# LUN of HOST's target.
target_url() {
  local cred=
  [[ $# -ge 4 ]] && cred="$3%$4@"
  echo "iscsi://${cred}${TARGET_PORTAL}/$(target_name "$1")/$(target_lun "$2")"
}

target_flat_backing() {
  [[ "$E2E_TARGET" == tgt && -f "$TARGET_DIR/tgt-backing.json" ]] || return 0
  jq -r --arg h "$1" --arg l "$2" '.[$h][$l] // empty' "$TARGET_DIR/tgt-backing.json"
}

# target_start CONFIG_JSON: starts the target on a free port with this
# configuration. Retries with another port if it loses the port race.
target_start() {
  local cfg=$1 attempt
  TARGET_PREFIX=$(jq -r '.iqn_prefix' "$cfg")
  TARGET_STARTS=$((TARGET_STARTS + 1))
  TARGET_DIR="$E2E_TMP/target.$TARGET_STARTS"
  mkdir -p "$TARGET_DIR"
  for attempt in 1 2 3; do
    TARGET_PORT=$(free_port)
    TARGET_PORTAL="127.0.0.1:$TARGET_PORT"
    TARGET_LOG="$TARGET_DIR/$E2E_TARGET.$attempt.log"
    if "_${E2E_TARGET}_start" "$cfg"; then
      e2e_on_exit "_target_kill $E2E_TARGET $TARGET_PID ${TARGET_CONTROL_PORT:-0} 5"
      log "$E2E_TARGET listening on $TARGET_PORTAL (pid $TARGET_PID)"
      return 0
    fi
    echo "start attempt $attempt failed; log:" >&2
    sed 's/^/  | /' "$TARGET_LOG" >&2 || true
    [[ -n "$TARGET_PID" ]] && _target_kill "$E2E_TARGET" "$TARGET_PID" "${TARGET_CONTROL_PORT:-0}" 2 || true
  done
  fail_now "could not start $E2E_TARGET"
}

# target_stop: stops the target the normal way (vsl: SIGTERM); fails if it
# had to be killed.
target_stop() {
  [[ -n "$TARGET_PID" ]] || return 0
  local pid=$TARGET_PID
  TARGET_PID=
  _target_kill "$E2E_TARGET" "$pid" "${TARGET_CONTROL_PORT:-0}" 10
}

# _target_kill KIND PID CONTROL_PORT SECONDS. tgtd ignores SIGTERM and SIGINT,
# and refuses "tgtadm --op delete --mode system" while it has targets; it is
# only the reference here, so it is killed.
_target_kill() {
  local kind=$1 pid=$2 cport=$3 secs=$4
  if [[ "$kind" == tgt ]]; then
    stop_pid "$pid" "$secs" KILL
    rm -f "/var/run/tgtd/socket.$cport" "/var/run/tgtd/socket.$cport.lock"
  else
    stop_pid "$pid" "$secs" TERM
  fi
}

_vsl_start() {
  local cfg=$1
  jq --arg l "$TARGET_PORTAL" '.listen = $l' "$cfg" >"$TARGET_DIR/vsl.json"
  "$VSL_BIN" gateway --config "$TARGET_DIR/vsl.json" >"$TARGET_LOG" 2>&1 &
  TARGET_PID=$!
  disown "$TARGET_PID"  # no "Killed" notices from bash; cleanup stops it
  wait_port "$TARGET_PORT" 20 "$TARGET_PID"
}

_tgt_start() {
  local cfg=$1 cport
  # tgtd's management socket is /var/run/tgtd/socket.<control port>; pick
  # one no other tgtd uses.
  while :; do
    cport=$((1024 + RANDOM % 30000))  # tgtd refuses values above 32767
    [[ -e "/var/run/tgtd/socket.$cport" ]] || break
  done
  TARGET_CONTROL_PORT=$cport
  tgtd -f -C "$cport" --iscsi "portal=$TARGET_PORTAL" >"$TARGET_LOG" 2>&1 &
  TARGET_PID=$!
  disown "$TARGET_PID"
  wait_port "$TARGET_PORT" 20 "$TARGET_PID" || return 1
  python3 "$E2E_LIB_DIR/tgt_setup.py" --control-port "$cport" --config "$cfg" \
    --workdir "$TARGET_DIR" >>"$TARGET_LOG" 2>&1
}

# target_qemu_opts HOST LUN INITIATOR USER SECRET-ID: a QEMU block-driver
# option string (for --image-opts) for configuration LUN LUN of HOST; the
# password comes from the QEMU secret object SECRET-ID
# (--object secret,id=SECRET-ID,data=...).
target_qemu_opts() {
  echo "driver=iscsi,transport=tcp,portal=$TARGET_PORTAL,target=$(target_name "$1"),lun=$(target_lun "$2"),initiator-name=$3,user=$4,password-secret=$5"
}
