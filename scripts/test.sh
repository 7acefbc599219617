#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, and runs every test
# (unit, fuzz, end to end through real initiators, PostgreSQL) with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j 2 "$@"
../scripts/sanitize.sh  # the gateway's tests under ASan+UBSan and TSan (build-asan/, build-tsan/)
