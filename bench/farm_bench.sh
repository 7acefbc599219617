#!/usr/bin/env bash
# Benchmark: the farm manager's control plane. Plan + apply of a farm of
# FARM_BENCH_SERVERS servers (default 100), each booting from a
# FARM_BENCH_DISK disk (default 2GB)
# cloned from a 64 MiB image, all sharing one farm-global disk, with power
# driver none; then its destroy (unmap, unbind, scrub, free). Through the
# real binary (`vsl serve` + `vsl farm ...`), once on SQLite and once on a
# throw-away PostgreSQL server, with the boot disks on the default file
# array; and once (backend "rbd", SQLite catalog) with the boot disks on an
# rbd array of a throw-away Ceph cluster (tests/lib/ceph.sh), where they are
# clones of the pool's master copy of the image. Prints wall times and
# servers per second; asserts nothing but that every step succeeded.
#
#   bench/farm_bench.sh [VSL]        (default build/vsl)
#   FARM_BENCH_SERVERS=100 FARM_BENCH_BACKENDS="sqlite pg rbd"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
vsl=$(realpath "${1:-$root/build/vsl}")
servers=${FARM_BENCH_SERVERS:-100}
backends=${FARM_BENCH_BACKENDS:-sqlite pg rbd}
disk=${FARM_BENCH_DISK:-2GB}
work=$(mktemp -d /var/tmp/vsl-farm-bench.XXXXXX)
chmod 755 "$work"
# A file array may not promise more than its file system holds: 90 % of it.
capacity=$(($(df -B1 --output=size "$work" | tail -1) / 10 * 9))
pids=()
pg_stop=""
ceph_dir=""
cleanup() {
  local rc=$?
  set +e
  if [[ $rc != 0 ]]; then
    for l in "$work"/serve-*.log; do [[ -f $l ]] && { echo "--- $l" >&2; tail -20 "$l" >&2; }; done
  fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  [[ -n $ceph_dir ]] && ceph_stop "$ceph_dir" >/dev/null 2>&1
  [[ -n $pg_stop ]] && eval "$pg_stop" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 "$(dirname "${BASH_SOURCE[0]}")/../tests/lib/free_port.py"
}
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# The image: 64 MiB with a boot sector and 8 MiB of data; the rest sparse.
"$root/scripts/make-farm-image.sh" "$work/bench.img" 64M
dd if=/dev/urandom of="$work/bench.img" bs=1M seek=1 count=8 conv=notrunc status=none

cat >"$work/bench.fml" <<FML
<?xml version="1.0"?>
<farm fmlversion="1.2" name="bench">
  <tier id="1" name="app">
    <role>app</role><min-servers>1</min-servers><max-servers>$servers</max-servers>
    <init-servers>$servers</init-servers>
  </tier>
  <farm-global-disks><global-disk global-name="shared" drivesize="1GB" /></farm-global-disks>
  <server-role id="app" name="App server"><hw>bench-vm</hw>
    <disk target="0" drivetype="scsi" drivesize="$disk">
      <diskimage type="system">bench</diskimage>
      <attribute name="backup-policy" value="nightly" />
    </disk>
    <shared-disk global-name="shared" target="1" drivetype="scsi" />
  </server-role>
</farm>
FML

pg_url() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  local dir=$work/pg
  mkdir -p "$dir"
  chown postgres "$dir"
  local as=(runuser -u postgres --)
  "${as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$work/initdb.log" 2>&1
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -w -t 60 -l "$dir/server.log" \
    -o "-k $dir -c listen_addresses='' -F -c max_connections=100" start >/dev/null
  pg_stop="${as[*]} $bin/pg_ctl -D $dir/data -m immediate -w stop"
  "${as[@]}" "$bin/createdb" -h "$dir" -U postgres vsl
  echo "postgresql://postgres@/vsl?host=$dir"
}

results=()
for backend in $backends; do
  data=$work/data-$backend
  catalog=()
  fml=$work/bench.fml
  [[ $backend == pg ]] && catalog=(--catalog "$(pg_url)")
  if [[ $backend == rbd ]]; then
    # The boot disks ask for class=performance, which only the rbd array has.
    source "$root/tests/lib/ceph.sh"
    ceph_dir=$work/ceph
    VSL_CEPH_OSD_SIZE=$((64 << 30)) ceph_start "$ceph_dir" >/dev/null || { echo "farm_bench: no Ceph cluster" >&2; exit 1; }
    fml=$work/bench-rbd.fml
    sed 's/drivetype="scsi"/drivetype="performance"/' "$work/bench.fml" >"$fml"
  fi
  api_port=$(free_port)
  "$vsl" serve --config '' --data "$data" --api "127.0.0.1:$api_port" --iscsi "127.0.0.1:$(free_port)" \
    --power none --default-capacity "$capacity" --workers 4 "${catalog[@]}" >"$work/serve-$backend.log" 2>&1 &
  pids+=($!)
  export VSL_API="http://127.0.0.1:$api_port" VSL_DATA="$data"
  for _ in $(seq 200); do
    "$vsl" host list >/dev/null 2>&1 && break
    sleep 0.1
  done
  for i in $(seq -w 1 "$servers"); do
    "$vsl" host add "b$i" --hw bench-vm --initiator "iqn.2026-11.org.example:b$i" >/dev/null
  done
  "$vsl" image import bench "$work/bench.img" >/dev/null
  if [[ $backend == rbd ]]; then
    "$vsl" array add r1 --driver rbd --pool "$VSL_CEPH_POOL" --ceph-conf "$VSL_CEPH_CONF" \
      --ceph-user "$VSL_CEPH_USER" --keyring "$VSL_CEPH_KEYRING" --capacity 2TiB --quality class=performance >/dev/null
  fi

  t0=$(now)
  "$vsl" farm plan "$fml" >"$work/plan-$backend.out"
  t1=$(now)
  "$vsl" farm apply "$fml" >"$work/apply-$backend.out"
  t2=$(now)
  "$vsl" farm show bench | grep -c "power on" >"$work/on" || true
  "$vsl" farm destroy bench >"$work/destroy-$backend.out"
  t3=$(now)
  on=$(cat "$work/on")
  plan=$(secs "$t0" "$t1") apply=$(secs "$t1" "$t2") destroy=$(secs "$t2" "$t3")
  steps=$(grep -c ': done' "$work/apply-$backend.out" || true)
  results+=("$(printf '%-7s %7d %8s %9s %7d %10s %12s %10s' "$backend" "$servers" "$plan" "$apply" "$steps" \
    "$(python3 -c "print(f'{$servers / $apply:.1f}')")" "$destroy" "$(python3 -c "print(f'{$servers / $destroy:.1f}')")")")
  if [[ $on != "$servers" ]]; then
    echo "farm_bench: only $on of $servers servers were powered on ($backend)" >&2
    exit 1
  fi
  kill -TERM "${pids[-1]}"
  wait "${pids[-1]}" || true
done

echo
echo "farm bench: $servers servers, $disk boot disk from a 64 MiB image (8 MiB data), 1 shared disk, power none"
echo "(sqlite, pg: boot disks copied onto the default file array; rbd: SQLite, boot disks cloned on an rbd array)"
printf '%-7s %7s %8s %9s %7s %10s %12s %10s\n' backend servers plan_s apply_s steps servers/s destroy_s servers/s
for r in "${results[@]}"; do echo "$r"; done
