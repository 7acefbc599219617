#!/usr/bin/env bash
# Installs the Debian packages vsl needs to build, test, benchmark and demo.
# Idempotent: does nothing when every package is already there.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev
  libssl-dev libsqlite3-dev libpq-dev libpugixml-dev nlohmann-json3-dev
  libcpp-httplib-dev libcli11-dev libspdlog-dev libfmt-dev liburing-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  help2man
  libiscsi-dev libiscsi-bin tgt qemu-system-x86 qemu-block-extra qemu-utils
  postgresql iperf3 binutils procps iproute2 python3 python3-yaml jq linux-perf valgrind
  ceph-mon ceph-osd ceph-common librbd-dev librados-dev libradospp-dev
  prometheus
  syslinux syslinux-common mtools dosfstools cpio kmod ipxe-qemu
  ipmitool openipmi
  chromium
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
ceph_new=0
if ((${#missing[@]})); then
  [[ " ${missing[*]} " == *" ceph-"* ]] && ceph_new=1
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# tgt's package starts a daemon on 3260 when it is installed; vsl's tests and
# benchmarks start their own tgtd on a port of their choosing.
if command -v systemctl >/dev/null 2>&1; then systemctl stop tgt 2>/dev/null || true; fi
pkill -x tgtd 2>/dev/null || true
# prometheus's package enables and starts its own server (:9090, scraping
# itself) and, when recommends are installed, node-exporter; tests/api/metrics.sh
# starts its own Prometheus in a temporary directory, so neither unit runs.
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now prometheus prometheus-node-exporter 2>/dev/null || true
fi
# ipmitool's package enables ipmievd (events from a local /dev/ipmi0) and
# openipmi's an init script loading the IPMI kernel modules; vsl drives BMCs
# over the network only (docs/ipmi.md), and tests/farm/ipmi.sh starts its own
# BMC simulator, so neither runs.
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now ipmievd openipmi 2>/dev/null || true
fi
# The Ceph packages enable ceph.target (mon, osd, mgr, mds units). With no
# cluster configured under /var/lib/ceph they start nothing; the tests start
# their own throw-away cluster (tests/lib/ceph.sh) with every path in a
# temporary directory. On a machine where deps.sh installed Ceph just now,
# the units are disabled so nothing of Ceph's own ever starts at boot.
if ((ceph_new)) && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  systemctl disable --now ceph.target ceph-mon.target ceph-osd.target 2>/dev/null || true
fi
# The console's browser tests: playwright-core from npm (scripts/ui-node.sh,
# into a cache, with the machine's Node.js 20 and npm: Debian 12's nodejs is
# 18, too old for it), driving the chromium above; nothing downloads a browser.
"$(dirname "$0")/ui-node.sh" >/dev/null || echo "deps: playwright-core not installed (npm registry unreachable?)" >&2
exit 0
