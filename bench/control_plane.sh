#!/usr/bin/env bash
# Control-plane figures: allocate+map and unmap+scrub+free cycles per second
# through the API of a real `vsl serve`, on a catalog of 10,000 volumes and
# 1,000 hosts, on SQLite and then on a throw-away PostgreSQL server. Prints
# the figures; asserts nothing. Bounded: each phase stops after
# BENCH_SECONDS (20) or BENCH_CYCLES (1000) cycles.
#
# Usage: bench/control_plane.sh [BUILD_DIR]     (default: build-api, else build)
# Environment: BENCH_VOLUMES (10000), BENCH_HOSTS (1000), BENCH_THREADS (4),
# BENCH_CYCLES (1000), BENCH_SECONDS (20), BENCH_CATALOGS ("sqlite pg").
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-}
[[ -z $build ]] && for b in "$root/build-api" "$root/build"; do [[ -x $b/control_plane_bench ]] && build=$b && break; done
[[ -x $build/vsl && -x $build/control_plane_bench ]] ||
  { echo "build vsl and control_plane_bench first (cmake --build BUILD --target vsl control_plane_bench)" >&2; exit 2; }
VSL=$build/vsl
source "$root/tests/lib/common.sh"
source "$root/tests/api/lib.sh"
e2e_init 1800
SERVE_TEST_FAULTS=""

for c in ${BENCH_CATALOGS:-sqlite pg}; do
  API_CATALOG=$c
  CATALOG_URL=""
  catalog_init
  data=$E2E_TMP/data-$c
  serve_start "$data" --workers "${BENCH_WORKERS:-4}"
  echo "=== $c"
  "$build/control_plane_bench" "$VSL_API" "$(cat "$data/admin.token")" "$E2E_TMP/array-$c" \
    "${BENCH_VOLUMES:-10000}" "${BENCH_HOSTS:-1000}" "${BENCH_THREADS:-4}" "${BENCH_CYCLES:-1000}" \
    "${BENCH_SECONDS:-20}" || echo "bench failed on $c; serve log: $(tail -5 "$SERVE_LOG")"
  serve_stop
  rm -rf "$data" "$E2E_TMP/array-$c"
done
