# shellcheck shell=bash
# Helpers for the crash suites (tests/farm/farm_crash.sh, tests/api/crash_*.sh):
# `vsl serve` started with crash points armed (VSL_CRASH_AT, --test-faults),
# reaped once its crash point killed it, restarted on the same data directory
# (and the same PostgreSQL); what each host sees through the gateway.
# Source after tests/lib/common.sh, tests/api/lib.sh and e2e_init.

# The one serve this script runs at a time; the EXIT trap kills it (only
# while it has not been reaped, so a reused pid is never hit).
CRASH_SERVE_PID=""
e2e_on_exit '[[ -n $CRASH_SERVE_PID ]] && kill -9 $CRASH_SERVE_PID'

# crash_serve DATA CRASH_AT [ARGS...]: starts vsl serve on DATA with the
# crash points CRASH_AT armed ("" for none) and waits for its API; sets
# VSL_API, VSL_DATA, PORTAL, SERVE_LOG. Leases: $SERVE_LEASE_MS (2 s). The
# array CRASH_SERVE_WRAP, when set, is a command that runs it (it must exec).
# --config '': the machine's /etc/vsl/vsl.conf (the .deb's) is not the test's.
CRASH_SERVE_WRAP=()
crash_serve() {
  local data=$1 at=$2
  shift 2
  local cat=()
  [[ -n $CATALOG_URL ]] && cat=(--catalog "$CATALOG_URL")
  SERVE_LOG=$E2E_TMP/serve.$((++CRASH_SERVES)).log
  # Ports chosen by the kernel (port 0), read back from what serve prints.
  VSL_CRASH_AT=$at "${CRASH_SERVE_WRAP[@]}" "$VSL" serve --config '' --data "$data" --api 127.0.0.1:0 --iscsi 127.0.0.1:0 \
    --lease-ms "${SERVE_LEASE_MS:-2000}" --power none --test-faults "${cat[@]}" "$@" >"$SERVE_LOG" 2>&1 &
  CRASH_SERVE_PID=$!
  SERVE_PID=$CRASH_SERVE_PID
  local i
  for ((i = 0; i < 1500; i++)); do
    grep -qs '^vsl serve: iSCSI on' "$SERVE_LOG" && break
    alive "$CRASH_SERVE_PID" || break
    sleep 0.02
  done
  API_PORT=$(sed -n 's|^vsl serve: API on http://127.0.0.1:\([0-9]*\)$|\1|p' "$SERVE_LOG")
  ISCSI_PORT=$(sed -n 's|^vsl serve: iSCSI on 127.0.0.1:\([0-9]*\) .*|\1|p' "$SERVE_LOG")
  if [[ -z $API_PORT || -z $ISCSI_PORT ]]; then
    kill -9 "$CRASH_SERVE_PID" 2>/dev/null
    wait "$CRASH_SERVE_PID" 2>/dev/null
    CRASH_SERVE_PID=""
    return 1
  fi
  export VSL_API="http://127.0.0.1:$API_PORT" VSL_DATA="$data"
  PORTAL="127.0.0.1:$ISCSI_PORT"
}
CRASH_SERVES=0

# crash_serve_stop: SIGTERM (SIGKILL after 20 s); true when it exited 0.
crash_serve_stop() {
  [[ -n $CRASH_SERVE_PID ]] || return 1
  kill -TERM "$CRASH_SERVE_PID"
  local i
  for ((i = 0; i < 1000; i++)); do
    alive "$CRASH_SERVE_PID" || break
    sleep 0.02
  done
  alive "$CRASH_SERVE_PID" && { echo "vsl serve did not stop on SIGTERM within 20 s"; kill -9 "$CRASH_SERVE_PID"; }
  wait "$CRASH_SERVE_PID"
  local rc=$?
  CRASH_SERVE_PID=""
  return $rc
}

# crash_serve_died POINT N [SECONDS]: the serve killed itself at crash point
# POINT's N-th pass (its log says so and it ended by SIGKILL); reaps it.
crash_serve_died() {
  local point=$1 n=$2 secs=${3:-30} i
  for ((i = 0; i < secs * 50; i++)); do
    alive "$CRASH_SERVE_PID" || break
    sleep 0.02
  done
  if alive "$CRASH_SERVE_PID"; then
    echo "vsl serve (pid $CRASH_SERVE_PID) still runs: crash point $point #$n not reached"
    kill -9 "$CRASH_SERVE_PID"
    wait "$CRASH_SERVE_PID" 2>/dev/null
    CRASH_SERVE_PID=""
    return 1
  fi
  wait "$CRASH_SERVE_PID" 2>/dev/null
  local rc=$?
  CRASH_SERVE_PID=""
  grep -qF "vsl: crash point $point #$n: SIGKILL" "$SERVE_LOG" && [[ $rc == 137 ]] || {
    echo "vsl serve exited $rc; log:"
    tail -5 "$SERVE_LOG"
    return 1
  }
}

# tv ARGS...: the vsl CLI, bounded (a hung command is a failure, not a hang).
tv() { timeout 60 "$VSL" "$@"; }

# host_url HOST [LUN]: the host's iSCSI URL (its CHAP user and secret, as
# tests/farm/lib.sh's add_host makes them).
host_url() {
  echo "iscsi://$1%secret-of-$1-0123@$PORTAL/iqn.2026-11.org.vsl:$1${2:+/$2}"
}

# host_luns HOST: the LUNs HOST sees through the gateway (REPORT LUNS by
# iscsi-ls, logged in with its initiator name and CHAP secret), sorted, on
# one line.
host_luns() {
  local out
  out=$(timeout 30 iscsi-ls -i "iqn.2026-11.org.example:$1" -s "$(host_url "$1")" 2>&1) || {
    echo "iscsi-ls failed: $out"
    return 1
  }
  sed -n 's/^Lun:\([0-9]*\).*/\1/p' <<<"$out" | sort -n | tr '\n' ' ' | sed 's/ $//'
}

# host_qemu_io HOST LUN CMD...: qemu-io, as HOST, running each CMD on LUN.
host_qemu_io() {
  local h=$1 lun=$2 c=()
  shift 2
  for x in "$@"; do c+=(-c "$x"); done
  timeout 30 qemu-io --object "secret,id=s0,data=secret-of-$h-0123" --image-opts \
    "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$h,lun=$lun,initiator-name=iqn.2026-11.org.example:$h,user=$h,password-secret=s0" \
    "${c[@]}"
}

# host_lun_is_image HOST LUN IMAGE: the LUN's first bytes are IMAGE's, the
# rest reads zero (qemu-img convert as HOST).
host_lun_is_image() {
  local out=$E2E_TMP/lun.$1.$2.raw
  rm -f "$out"
  timeout 30 qemu-img convert -O raw --object "secret,id=s0,data=secret-of-$1-0123" --image-opts \
    "driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$1,lun=$2,initiator-name=iqn.2026-11.org.example:$1,user=$1,password-secret=s0" \
    "$out" || return 1
  local n
  n=$(stat -c %s "$3")
  cmp -n "$n" "$out" "$3" || return 1
  # Past the image: nothing but zeros (a copy clears its destination).
  [[ $(tail -c +$((n + 1)) "$out" | tr -d '\0' | wc -c) == 0 ]] || {
    echo "non-zero bytes after the image on $1 LUN $2"
    return 1
  }
}

# requests_settled [SECONDS]: waits until no request is queued or running;
# prints those left (empty when settled).
requests_settled() {
  local secs=${1:-20} i left
  for ((i = 0; i < secs * 20; i++)); do
    left=$(ajson GET '/v1/requests?limit=100000' |
      jq -r '.requests[] | select(.state == "queued" or .state == "running") | "request \(.id) \(.op) \(.state)"')
    [[ -z $left ]] && return 0
    sleep 0.05
  done
  echo "$left"
}

# pg_new_database NAME: a new empty database on the suite's PostgreSQL;
# CATALOG_URL names it.
pg_new_database() {
  local bin as=()
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  [[ $(id -u) == 0 ]] && as=(runuser -u postgres --)
  "${as[@]}" "$bin/createdb" -h "$PG_DIR" -U postgres "$1" || return 1
  CATALOG_URL="postgresql://postgres@/$1?host=$PG_DIR"
}

# unknown_array_files DATA: the files of DATA's default array that are no
# volume the catalog knows (leaked space), one a line.
unknown_array_files() {
  local known f
  known=$(tv volume list --all --json | jq -r '.volumes[] | select(.array == "default") | .array_volume')
  for f in "$1"/arrays/default/volumes/*; do
    [[ -e $f ]] || continue
    grep -qx "${f##*/}" <<<"$known" || echo "${f##*/}"
  done
}

# three_server_farm NAME FILE [BOOT_DISK_ATTRIBUTES]: writes the suites' farm
# to FILE: 3 servers of hw x86-vm, each with a 4 MiB boot disk at target 0
# copied from image "img", a 2 MiB data disk at target 1 and the 2 MiB
# global disk "shared" at target 2. BOOT_DISK_ATTRIBUTES (FML <attribute>
# elements) go into the boot disk.
three_server_farm() {
  cat >"$2" <<EOF
<?xml version="1.0"?>
<farm fmlversion="1.2" name="$1">
  <tier id="1" name="app">
    <role>app</role>
    <min-servers>3</min-servers>
    <max-servers>3</max-servers>
    <init-servers>3</init-servers>
  </tier>
  <farm-global-disks>
    <global-disk global-name="shared" drivesize="2MiB" />
  </farm-global-disks>
  <server-role id="app" name="App server">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="scsi" drivesize="4MiB">
      <diskimage type="system">img</diskimage>${3:+
      $3}
    </disk>
    <disk target="1" drivetype="scsi" drivesize="2MiB" />
    <shared-disk global-name="shared" target="2" drivetype="scsi" />
  </server-role>
</farm>
EOF
}

# The kill-and-converge loop of the farm crash tests (tests/farm/farm_crash.sh,
# tests/ceph/crash.sh). The calling script defines fresh_env (a new data
# directory), serve_up POINT:N (a serve armed at that crash point; none when
# ""), ready_problems and gone_problems (what is wrong after an apply and after
# a destroy of farm "crash", one line each; empty when nothing), FML, and
# READY_SAYS and GONE_SAYS, the end of the two convergence checks' names.

# kill_and_recover WHAT POINT:N CMD...: serve armed at POINT:N runs CMD
# (which must fail: the serve dies under it), then a serve without crash
# points on the same data runs CMD once more, which must succeed.
kill_and_recover() {
  local what=$1 at=$2
  shift 2
  serve_up "$at"
  check_fails "$what: killed at $at" tv "$@"
  check "$what: vsl serve died at crash point $at" crash_serve_died "${at%:*}" "${at##*:}"
  serve_up ""
  check "$what: after the restart, $* completes" tv "$@"
}

# ready_from_scratch: a fresh data directory with the farm applied cleanly
# and a serve running.
ready_from_scratch() {
  crash_serve_stop
  fresh_env
  serve_up ""
  tv farm apply "$FML" >/dev/null 2>&1 || fail_now "a clean apply on a fresh data directory failed"
  [[ -z $(ready_problems) ]] || fail_now "a clean apply on a fresh data directory is not ready"
}

# iteration APPLY-AT DESTROY-AT: apply killed at crash point APPLY-AT and
# recovered (or applied cleanly when ""), then destroy killed at DESTROY-AT
# and recovered (or destroyed cleanly when "").
crash_clean=1
iteration() {
  local problems
  [[ $crash_clean == 1 ]] || fresh_env
  crash_clean=0
  if [[ -n $1 ]]; then
    log "apply killed at $1"
    kill_and_recover "apply" "$1" farm apply "$FML"
    problems=$(ready_problems)
    check_eq "apply killed at $1, restarted, applied again: $READY_SAYS" "" "$problems"
    # Destroy is tested from a farm that is whole: start anew if it is not.
    [[ -z $problems ]] || ready_from_scratch
  else
    serve_up ""
    tv farm apply "$FML" >/dev/null 2>&1 && [[ -z $(ready_problems) ]] || ready_from_scratch
  fi
  crash_serve_stop
  if [[ -n $2 ]]; then
    log "destroy killed at $2"
    kill_and_recover "destroy" "$2" farm destroy crash
    problems=$(gone_problems)
    check_eq "destroy killed at $2, restarted, destroyed again: $GONE_SAYS" "" "$problems"
    [[ -z $problems ]] && crash_clean=1
  else
    serve_up ""
    tv farm destroy crash >/dev/null 2>&1 && [[ -z $(gone_problems) ]] && crash_clean=1
  fi
  crash_serve_stop
}
