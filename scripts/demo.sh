#!/usr/bin/env bash
# The main job: the whole product on its embedded default, in under a minute.
# Installs what it needs, builds, starts `vsl serve` (SQLite, its default file
# array, QEMU VMs as hosts) on a fresh data directory, adds a second file
# array declared raid=0+1 (the database disks ask for it), registers four
# hosts, builds a real Linux image (scripts/make-linux-image.sh; the Debian
# packages and the image are cached in ~/.cache/vsl between runs) and imports
# it, applies examples/two-tier.fml (two web servers, two database servers
# sharing a disk), shows every host's console: its NIC's firmware (iPXE)
# sanboots LUN 0 through the gateway, Linux logs in again with its own
# initiator, checks its kernel, writes to its disk and, on the database
# servers, sees the shared disk; then `vsl farm show`, and destroys the farm.
# Exits non-zero when a host did not come up or a step failed.
#
#   VSL_BUILD_DIR   build directory (default build)
#   VSL_DEMO_KEEP=1 keep the data directory, and leave `vsl serve` running
#                   with the farm applied (not destroyed), for the web
#                   console (whose address the demo prints) or the CLI
#   VSL_DEMO_CEPH=1 the same demo with the farm's disks on Ceph RBD: a
#                   throw-away single-node cluster (tests/lib/ceph.sh: one
#                   monitor, one OSD, in the data directory) is started, an
#                   rbd array declared raid=0+1 takes the place of the file
#                   one, the default file array only holds the boot image's
#                   master, and the cluster is stopped at the end
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${VSL_BUILD_DIR:-build}
ceph=${VSL_DEMO_CEPH:-0}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "dependencies and build"
scripts/deps.sh
cmake -S . -B "$build" -G Ninja -DVSL_FUZZ=OFF >/dev/null
cmake --build "$build" ${VSL_BUILD_JOBS:+-j "$VSL_BUILD_JOBS"}
vsl=$root/$build/vsl

data=$(mktemp -d /tmp/vsl-demo.XXXXXX)
serve_pid=""
kept_pid=""
cleanup() {
  local rc=$?
  set +e
  if [[ -n $serve_pid ]] && kill -0 "$serve_pid" 2>/dev/null; then
    kill -TERM "$serve_pid"
    for _ in $(seq 100); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$serve_pid" 2>/dev/null
  fi
  # The cluster after vsl serve, its client (kept while a kept serve runs).
  [[ $ceph == 1 && -z $kept_pid ]] && ceph_stop "$data/ceph"
  if [[ ${VSL_DEMO_KEEP:-0} == 1 ]]; then echo "kept $data"; else rm -rf "$data"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 "$(dirname "${BASH_SOURCE[0]}")/../tests/lib/free_port.py"
}

default_capacity=4GiB
if [[ $ceph == 1 ]]; then
  step "a throw-away Ceph cluster in $data/ceph"
  source "$root/tests/lib/ceph.sh"
  ceph_start "$data/ceph" >/dev/null || exit 1
  echo "one monitor and one OSD up in ${VSL_CEPH_START_MS} ms; pool $VSL_CEPH_POOL, user client.$VSL_CEPH_USER"
  default_capacity=1MiB  # the boot image's master only: every farm disk is an RBD image
fi

step "vsl serve --power qemu on $data"
api_port=$(free_port)
iscsi_port=$(free_port)
"$vsl" serve --data "$data/vsl" --api "127.0.0.1:$api_port" --iscsi "127.0.0.1:$iscsi_port" \
  --power qemu --default-capacity "$default_capacity" >"$data/serve.log" 2>&1 &
serve_pid=$!
export VSL_API="http://127.0.0.1:$api_port" VSL_DATA="$data/vsl"
for _ in $(seq 100); do
  [[ -f $data/vsl/admin.token ]] && "$vsl" host list >/dev/null 2>&1 && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$data/serve.log"; exit 1; }
  sleep 0.1
done
sed 's/^/  | /' "$data/serve.log"
echo "web console: $VSL_API/ui/ (sign in with the token in $VSL_DATA/admin.token)"

step "a raid=0+1 array, hosts and the boot image"
if [[ $ceph == 1 ]]; then
  "$vsl" array add ceph --driver rbd --pool "$VSL_CEPH_POOL" --ceph-conf "$VSL_CEPH_CONF" \
    --ceph-user "$VSL_CEPH_USER" --keyring "$VSL_CEPH_KEYRING" --capacity 1GiB --quality raid=0+1
else
  "$vsl" array add mirror --driver file --path "$data/mirror" --capacity 1GiB --quality raid=0+1
fi
"$vsl" array list
hosts=(host1 host2 host3 host4)
for h in "${hosts[@]}"; do
  "$vsl" host add "$h" --hw x86-vm --initiator "iqn.2026-11.org.example:$h" >/dev/null
done
"$vsl" host list
cache=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vsl
mkdir -p "$cache"
key=$(cat scripts/make-linux-image.sh scripts/lib/linux-init.sh | sha256sum | cut -c1-16)
linux=$cache/linux-$key.img
if [[ ! -f $linux ]]; then
  scripts/make-linux-image.sh "$linux.tmp" --then stay
  mv "$linux.tmp" "$linux"
else
  echo "linux image: $linux (cached)"
fi
"$vsl" image import demo "$linux"

step "vsl farm plan examples/two-tier.fml"
"$vsl" farm plan examples/two-tier.fml

step "vsl farm apply examples/two-tier.fml"
"$vsl" farm apply examples/two-tier.fml

step "the hosts boot Linux from their LUN 0 (serial consoles, all four booting at once)"
booted=0 shared=0
for h in "${hosts[@]}"; do
  for _ in $(seq 1800); do
    "$vsl" host console "$h" 2>/dev/null | grep -aq '^vsl-linux: \(up\|FAILED\)' && break
    sleep 0.1
  done
  echo "$h:"
  # iPXE's and syslinux's screens carry terminal escapes; the lines that tell
  # the story are the firmware's, the loader's and the guest's own.
  "$vsl" host console "$h" 2>&1 | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\r//g; s/\(.\)vsl-linux:/\1\nvsl-linux:/' |
    grep -a -E '^(iPXE 1|tftp://|Registered SAN|Booting from SAN|SYSLINUX .* EDD|vsl-linux:)' | sed 's/^/  | /'
  line=$("$vsl" host console "$h" 2>/dev/null | grep -a '^vsl-linux: up')
  if [[ $line == *" initiator=iqn.2026-11.org.example:$h "* ]]; then
    booted=$((booted + 1))
  fi
  # The database servers' Linux sees the farm's shared 32 MiB disk as sdb.
  if [[ $line == *" sdb:32M"* ]]; then shared=$((shared + 1)); fi
done

step "vsl farm show two-tier"
"$vsl" farm show two-tier
"$vsl" farm list
on_rbd=0
if [[ $ceph == 1 ]]; then
  on_rbd=$("$vsl" farm show two-tier | grep -c '(mapped, on ceph)' || true)
  echo "$on_rbd disks of the farm are RBD images:"
  timeout 60 rbd -c "$VSL_CEPH_CONF" -n client.admin -k "$VSL_CEPH_ADMIN_KEYRING" -p "$VSL_CEPH_POOL" ls -l |
    sed 's/^/  | /'
fi

if [[ ${VSL_DEMO_KEEP:-0} == 1 ]]; then
  step "kept: vsl serve (pid $serve_pid) runs on with the farm"
  echo "web console: $VSL_API/ui/   sign in with the admin token: $(cat "$VSL_DATA/admin.token")"
  echo "a tenant:    VSL_API=$VSL_API VSL_DATA=$VSL_DATA $vsl tenant add NAME   (prints the tenant's token to sign in with)"
  echo "CLI:         VSL_API=$VSL_API VSL_DATA=$VSL_DATA $vsl farm show two-tier"
  echo "stop it:     kill $serve_pid"
  kept_pid=$serve_pid
  serve_pid=""
else
  step "vsl farm destroy two-tier"
  "$vsl" farm destroy two-tier
  "$vsl" host list

  kill -TERM "$serve_pid"
  wait "$serve_pid" || true
  serve_pid=""
fi
if ((booted != ${#hosts[@]})); then
  echo "demo: only $booted of ${#hosts[@]} hosts ran Linux from their disks" >&2
  exit 1
fi
if ((shared != 2)); then
  echo "demo: $shared hosts saw the shared disk, not the two database servers" >&2
  exit 1
fi
if [[ $ceph == 1 ]] && ((on_rbd != 5)); then
  echo "demo: $on_rbd of the farm's 5 disks were on the rbd array, not all" >&2
  exit 1
fi
echo
where=""
[[ $ceph == 1 ]] && where=" (RBD images on a throw-away Ceph cluster)"
if [[ -n $kept_pid ]]; then
  echo "demo: all ${#hosts[@]} hosts ran Linux from their own LUN 0$where; the farm runs on: $VSL_API/ui/"
else
  echo "demo: all ${#hosts[@]} hosts ran Linux from their own LUN 0$where; the farm was destroyed and scrubbed"
fi
