#!/usr/bin/env bash
# Builds vsl (build/, release with debug info) and the libFuzzer targets
# (build-fuzz/, clang). Usage: scripts/build.sh [extra cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DVSL_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$jobs" --target vsl_fuzzers
cmake -S . -B build -G Ninja -DVSL_FUZZ_DIR="$PWD/build-fuzz/fuzz" "$@" >/dev/null
cmake --build build -j "$jobs"
