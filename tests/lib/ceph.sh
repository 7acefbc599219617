# shellcheck shell=bash
# A throw-away single-node Ceph cluster for tests: one monitor and one OSD on
# a file-backed BlueStore, cephx on, one pool of size 1, no manager (RBD needs
# none). Every path (data, run dir, admin sockets, logs, keyrings) lies inside
# the directory given; nothing of the host's /etc/ceph, /var/lib/ceph or
# /var/run/ceph is read or written, and no systemd unit is involved.
#
#   source tests/lib/ceph.sh
#   ceph_start "$DIR" || exit 1     # prints the paths below, one per line
#   ... use $VSL_CEPH_CONF, $VSL_CEPH_POOL, $VSL_CEPH_USER, $VSL_CEPH_KEYRING ...
#   ceph_stop "$DIR"                # OSD first, then the monitor
#
# After ceph_start:
#   VSL_CEPH_CONF     DIR/ceph.conf (mon_host, cephx; no keyring in it)
#   VSL_CEPH_POOL     the pool made for vsl ("vsl" unless VSL_CEPH_POOL was set)
#   VSL_CEPH_USER     "vsl": client.vsl, with `profile rbd` on that pool only
#   VSL_CEPH_KEYRING  DIR/client.vsl.keyring
#   VSL_CEPH_ADMIN_KEYRING  DIR/client.admin.keyring (for the test's own checks)
#   VSL_CEPH_START_MS how long the start took
# ceph_start stops whatever it started when a step fails (and returns 1 with
# the reason on stderr); a script should still register `ceph_stop DIR` in
# its EXIT trap (e2e_on_exit) so a failure later leaves no daemon behind.
# ceph_rss_kib DIR prints the resident memory of both daemons together.
#
# Sizes: VSL_CEPH_OSD_SIZE (bytes of the sparse BlueStore file, default 8 GiB).
# Waits: VSL_CEPH_WAIT (seconds per step, default 60).

_ceph_log() { echo "ceph: $*" >&2; }

# _ceph_env CMD...: CMD without the environment variables Ceph's programs
# read (CEPH_CONF, CEPH_KEYRING, CEPH_ARGS), so a caller's cluster (or a
# second throw-away one) cannot leak into this one. The variables this
# library exports are named VSL_CEPH_* for the same reason.
# Daemons are started with "${_CEPH_ENV[@]}" directly (not through the
# function), so that $! is the daemon's own pid.
_CEPH_ENV=(env -u CEPH_CONF -u CEPH_KEYRING -u CEPH_ARGS)
_ceph_env() { "${_CEPH_ENV[@]}" "$@"; }

_ceph_free_port() {
  python3 "$(dirname "${BASH_SOURCE[0]}")/free_port.py"
}

# _ceph_cli DIR ARGS...: the ceph CLI as client.admin of the cluster in DIR,
# with a bounded connect.
_ceph_cli() {
  local dir=$1
  shift
  _ceph_env timeout "${VSL_CEPH_WAIT:-60}" ceph -c "$dir/ceph.conf" -n client.admin -k "$dir/client.admin.keyring" \
    --connect-timeout 20 "$@"
}

# _ceph_alive PIDFILE: the daemon whose pid the file holds runs.
_ceph_alive() {
  local pid
  [[ -s $1 ]] && pid=$(<"$1") && kill -0 "$pid" 2>/dev/null
}

_ceph_write_conf() {
  local dir=$1 port=$2 fsid=$3 size=$4
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$port
public_addr = 127.0.0.1
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
run_dir = $dir/run
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
log_to_stderr = false
err_to_stderr = true
crash_dir = $dir/crash
exporter_sock_dir = $dir/run
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_allow_pool_delete = true
; every map change otherwise waits about a second before it is proposed
paxos_propose_interval = 0.01
paxos_min_wait = 0.01
; the monitor refuses to run on a disk with under 30 % free otherwise
mon_data_avail_warn = 2
mon_data_avail_crit = 1

[client]
; several clients (and several handles in one process) run at once
admin_socket = $dir/run/\$name.\$pid.\$cctid.asok

[mon]
mon_data = $dir/mon
keyring = $dir/mon/keyring

[osd]
osd_data = $dir/osd
keyring = $dir/osd/keyring
osd_objectstore = bluestore
; bluestore_block_path is left unset on purpose: it defaults to
; \$osd_data/block, and naming that place explicitly makes BlueStore link the
; file to itself.
bluestore_block_size = $size
bluestore_block_create = true
bluestore_fsck_on_mount = false
; a small, fixed cache and small RocksDB buffers: the defaults take ~600 MiB
bluestore_cache_autotune = false
bluestore_cache_size = 67108864
osd_memory_target = 939524096
bluestore_rocksdb_options = compression=kNoCompression,max_write_buffer_number=2,min_write_buffer_number_to_merge=1,recycle_log_file_num=2,write_buffer_size=8388608,writable_file_max_buffer_size=0,compaction_readahead_size=2097152,max_background_compactions=1,max_total_wal_size=33554432
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
osd_crush_update_on_start = true
osd_max_object_name_len = 256
osd_max_object_namespace_len = 64
EOF
}

# ceph_start DIR: makes and starts the cluster in DIR (created; must be empty
# or missing). Prints VSL_CEPH_CONF and VSL_CEPH_KEYRING on stdout.
ceph_start() {
  local dir=$1
  [[ -n $dir ]] || { _ceph_log "ceph_start: no directory given"; return 1; }
  mkdir -p "$dir" || return 1
  dir=$(cd "$dir" && pwd)
  if [[ -n $(ls -A "$dir") ]]; then
    _ceph_log "ceph_start: $dir is not empty"
    return 1
  fi
  local t0
  t0=$(date +%s%N)
  if ! _ceph_start "$dir"; then
    _ceph_log "start failed; the logs of $dir/log follow"
    local f
    for f in "$dir"/log/*.log "$dir"/log/*.out; do
      [[ -s $f ]] && { echo "== $f" >&2; tail -15 "$f" >&2; }
    done
    ceph_stop "$dir"
    return 1
  fi
  VSL_CEPH_START_MS=$((($(date +%s%N) - t0) / 1000000))
  export VSL_CEPH_CONF=$dir/ceph.conf VSL_CEPH_KEYRING=$dir/client.vsl.keyring VSL_CEPH_USER=vsl
  export VSL_CEPH_ADMIN_KEYRING=$dir/client.admin.keyring VSL_CEPH_START_MS VSL_CEPH_POOL
  echo "$VSL_CEPH_CONF"
  echo "$VSL_CEPH_KEYRING"
}

_ceph_start() {
  local dir=$1 wait=${VSL_CEPH_WAIT:-60}
  VSL_CEPH_POOL=${VSL_CEPH_POOL:-vsl}
  mkdir -p "$dir"/{mon,osd,run,log,crash} || return 1
  local port fsid osd_uuid osd_key
  port=$(_ceph_free_port) || return 1
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  _ceph_write_conf "$dir" "$port" "$fsid" "${VSL_CEPH_OSD_SIZE:-8589934592}"

  # Keys: the monitor's, the administrator's (imported into the monitor's
  # keyring so that it exists from the first map on).
  _ceph_env ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null &&
    _ceph_env ceph-authtool --create-keyring "$dir/client.admin.keyring" --gen-key -n client.admin \
      --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null &&
    _ceph_env ceph-authtool "$dir/mon.keyring" --import-keyring "$dir/client.admin.keyring" >/dev/null &&
    _ceph_env monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$dir/monmap" >/dev/null ||
    { _ceph_log "making keys or the monitor map failed"; return 1; }
  chmod 600 "$dir"/*.keyring
  _ceph_env ceph-mon -c "$dir/ceph.conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring" \
    >"$dir/log/mon.mkfs.out" 2>&1 || { _ceph_log "ceph-mon --mkfs failed"; return 1; }
  # -f: stays in the foreground, so its pid is ours and no pid file of the
  # host is involved.
  "${_CEPH_ENV[@]}" ceph-mon -c "$dir/ceph.conf" -f -i a >"$dir/log/mon.out" 2>&1 &
  echo $! >"$dir/run/mon.pid"
  local i
  for ((i = 0; i < wait * 10; i++)); do
    _ceph_alive "$dir/run/mon.pid" || { _ceph_log "ceph-mon exited"; return 1; }
    [[ -S $dir/run/mon.a.asok ]] && break
    sleep 0.1
  done
  _ceph_cli "$dir" mon stat >/dev/null 2>&1 || { _ceph_log "the monitor does not answer on 127.0.0.1:$port"; return 1; }

  # The OSD: `osd new` registers it with its key; `ceph-osd --mkfs --key`
  # does not write a keyring, so it is written here.
  osd_key=$(_ceph_env ceph-authtool --gen-print-key) || return 1
  local id
  id=$(echo "{\"cephx_secret\": \"$osd_key\"}" | _ceph_cli "$dir" osd new "$osd_uuid" -i - 2>"$dir/log/osd.new.out") ||
    { _ceph_log "ceph osd new failed: $(cat "$dir/log/osd.new.out")"; return 1; }
  [[ $id == 0 ]] || { _ceph_log "ceph osd new gave id '$id', expected 0"; return 1; }
  printf '[osd.0]\n\tkey = %s\n' "$osd_key" >"$dir/osd/keyring"
  chmod 600 "$dir/osd/keyring"
  _ceph_env ceph-osd -c "$dir/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" --key "$osd_key" \
    >"$dir/log/osd.mkfs.out" 2>&1 || { _ceph_log "ceph-osd --mkfs failed"; return 1; }
  "${_CEPH_ENV[@]}" ceph-osd -c "$dir/ceph.conf" -f -i 0 >"$dir/log/osd.out" 2>&1 &
  echo $! >"$dir/run/osd.pid"
  for ((i = 0; i < wait * 10; i++)); do
    _ceph_alive "$dir/run/osd.pid" || { _ceph_log "ceph-osd exited"; return 1; }
    [[ $(_ceph_cli "$dir" osd dump --format json 2>/dev/null |
      python3 -c 'import json,sys; o=json.load(sys.stdin)["osds"]; print(int(bool(o) and o[0]["up"]==1 and o[0]["in"]==1))' 2>/dev/null) == 1 ]] && break
    sleep 0.2
  done
  ((i < wait * 10)) || { _ceph_log "osd.0 did not come up and in within ${wait}s"; return 1; }

  # The pool, ready once an object can be written to it (`rbd pool init`
  # writes one), and vsl's user with the least capabilities RBD needs.
  _ceph_cli "$dir" osd pool create "$VSL_CEPH_POOL" 8 8 >/dev/null 2>&1 || { _ceph_log "pool create failed"; return 1; }
  _ceph_env timeout "$wait" rbd -c "$dir/ceph.conf" -n client.admin -k "$dir/client.admin.keyring" \
    pool init "$VSL_CEPH_POOL" >"$dir/log/pool.init.out" 2>&1 ||
    { _ceph_log "rbd pool init $VSL_CEPH_POOL failed or timed out after ${wait}s"; return 1; }
  _ceph_cli "$dir" auth get-or-create client.vsl mon 'profile rbd' osd "profile rbd pool=$VSL_CEPH_POOL" \
    mgr "profile rbd pool=$VSL_CEPH_POOL" -o "$dir/client.vsl.keyring" >/dev/null 2>&1 ||
    { _ceph_log "auth get-or-create client.vsl failed"; return 1; }
  chmod 600 "$dir/client.vsl.keyring"
}

# _ceph_stop_daemon DIR NAME: TERM, then KILL after VSL_CEPH_WAIT/2 seconds.
_ceph_stop_daemon() {
  local pidfile=$1/run/$2.pid pid i
  [[ -s $pidfile ]] || return 0
  pid=$(<"$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < ${VSL_CEPH_WAIT:-60} * 5; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      _ceph_log "$2 (pid $pid) ignored TERM; killing it"
      kill -KILL "$pid" 2>/dev/null
    fi
    # Reap it when it is this shell's child; otherwise wait for it to go.
    wait "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$pidfile"
}

# ceph_stop DIR: stops the OSD, then the monitor. Idempotent; the directory
# stays (the caller removes it).
ceph_stop() {
  local dir=$1
  [[ -d $dir/run ]] || return 0
  _ceph_stop_daemon "$dir" osd
  _ceph_stop_daemon "$dir" mon
}

# ceph_rss_kib DIR: resident memory of the monitor and the OSD together, KiB.
ceph_rss_kib() {
  local dir=$1 total=0 n f
  for f in "$dir/run/mon.pid" "$dir/run/osd.pid"; do
    [[ -s $f ]] || continue
    n=$(awk '/^VmRSS:/ {print $2}' "/proc/$(<"$f")/status" 2>/dev/null)
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

# ceph_resume DIR: starts again the monitor and the OSD of a cluster that
# ceph_start made and ceph_stop stopped (same data, same monitor port), and
# waits until the OSD is up and the pool answers.
ceph_resume() {
  local dir=$1 wait=${VSL_CEPH_WAIT:-60} i
  [[ -f $dir/ceph.conf ]] || { _ceph_log "ceph_resume: no cluster in $dir"; return 1; }
  if ! _ceph_alive "$dir/run/mon.pid"; then
    rm -f "$dir/run/mon.a.asok"
    "${_CEPH_ENV[@]}" ceph-mon -c "$dir/ceph.conf" -f -i a >>"$dir/log/mon.out" 2>&1 &
    echo $! >"$dir/run/mon.pid"
  fi
  for ((i = 0; i < wait * 10; i++)); do
    _ceph_alive "$dir/run/mon.pid" || { _ceph_log "ceph-mon exited"; return 1; }
    [[ -S $dir/run/mon.a.asok ]] && break
    sleep 0.1
  done
  if ! _ceph_alive "$dir/run/osd.pid"; then
    "${_CEPH_ENV[@]}" ceph-osd -c "$dir/ceph.conf" -f -i 0 >>"$dir/log/osd.out" 2>&1 &
    echo $! >"$dir/run/osd.pid"
  fi
  for ((i = 0; i < wait * 5; i++)); do
    _ceph_alive "$dir/run/osd.pid" || { _ceph_log "ceph-osd exited"; return 1; }
    [[ $(_ceph_cli "$dir" osd dump --format json 2>/dev/null |
      python3 -c 'import json,sys; o=json.load(sys.stdin)["osds"]; print(int(bool(o) and o[0]["up"]==1))' 2>/dev/null) == 1 ]] && break
    sleep 0.2
  done
  ((i < wait * 5)) || { _ceph_log "osd.0 did not come up again within ${wait}s"; return 1; }
}

# ceph_admin_rbd ARGS...: the `rbd` tool as client.admin on the pool of the
# cluster ceph_start started last (VSL_CEPH_*), bounded by
# VSL_CEPH_RBD_TIMEOUT seconds (60).
ceph_admin_rbd() {
  timeout "${VSL_CEPH_RBD_TIMEOUT:-60}" rbd -c "$VSL_CEPH_CONF" -n client.admin -k "$VSL_CEPH_ADMIN_KEYRING" \
    -p "$VSL_CEPH_POOL" "$@"
}

# ceph_e2e_start: for a test of tests/lib/common.sh (after e2e_init): starts
# a throw-away cluster in $E2E_TMP/ceph (CLUSTER), stopped when the test
# exits, and fails the test when it does not come up. Sets RBD_ARGS, the
# `vsl array add` flags of an rbd array in its pool as client.vsl.
ceph_e2e_start() {
  CLUSTER=$E2E_TMP/ceph
  e2e_on_exit "ceph_stop $CLUSTER"
  log "starting a throw-away Ceph cluster in $CLUSTER"
  ceph_start "$CLUSTER" >/dev/null || fail_now "the Ceph cluster did not start"
  # shellcheck disable=SC2034  # the suites' to use
  RBD_ARGS=(--driver rbd --pool "$VSL_CEPH_POOL" --ceph-conf "$VSL_CEPH_CONF" --ceph-user "$VSL_CEPH_USER"
    --keyring "$VSL_CEPH_KEYRING")
}

# clone_farm_fml NAME SERVERS DRIVESIZE IMAGE [CACHE]: the FML of a farm of
# one tier of SERVERS x86-vm servers whose boot disk (LUN 0, drivetype
# performance) holds IMAGE, so is a clone on an rbd array of class
# performance; CACHE, when given, is that disk's cache policy attribute.
clone_farm_fml() {
  local cache=""
  [[ -n ${5:-} ]] && cache=$'\n'"      <attribute name=\"cache\" value=\"$5\"/>"
  cat <<FML
<?xml version="1.0"?>
<farm fmlversion="1.2" name="$1">
  <tier id="1" name="web">
    <role>web</role>
    <min-servers>1</min-servers>
    <max-servers>$2</max-servers>
    <init-servers>$2</init-servers>
  </tier>
  <server-role id="web" name="Web server">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="performance" drivesize="$3">
      <diskimage type="system">$4</diskimage>$cache
    </disk>
  </server-role>
</farm>
FML
}
