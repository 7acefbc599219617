#!/usr/bin/env bash
# The gateway's unit and end-to-end tests (ctest labels unit-gateway and
# e2e-gateway; `-L unit` and `-L e2e` still select them) under
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/) and under
# ThreadSanitizer (build-tsan/). Only the targets those tests need are built;
# the end-to-end suites run against vsl_gateway_runner (the gateway's
# libraries with `vsl gateway`'s arguments) rather than the whole vsl binary.
# A sanitizer report fails the test that caused it: in a test binary it
# aborts; in the gateway child the exit status is not 0, which the suites'
# GatewayProcess::Stop checks.
# The asan and tsan presets (CMakePresets.json) compile with -O0 -g1: CI pays
# for compile time (no ccache there; -O1 -g costs ~3.5x more), and line tables
# are enough for the sanitizers' stack traces.
# Usage: scripts/sanitize.sh [asan|tsan]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(gateway_core_test gateway_config_test gateway_loopback_test iscsi_pdu_test
         iscsi_login_test scsi_test iscsi_e2e_test iscsi_login_race_test iscsi_session_fuzz
         vsl_gateway_runner)
jobs=$(nproc)
kinds=("$@")
[[ ${#kinds[@]} -eq 0 ]] && kinds=(asan tsan)

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=86"
# Leaks inside libiscsi, the tests' initiator library, are not ours (the file
# says which and why); every other leak fails the test.
export LSAN_OPTIONS="suppressions=$PWD/tests/iscsi/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# TSan: report, go on, and exit with 66 at the end (the child's status fails
# the test that started it). No suppressions: nothing third-party runs
# threads in these tests.
export TSAN_OPTIONS="halt_on_error=0:exitcode=66:second_deadlock_stack=1"

for kind in "${kinds[@]}"; do
  case "$kind" in
    asan|tsan) ;;
    *) echo "sanitize.sh: unknown build '$kind' (asan or tsan)" >&2; exit 2 ;;
  esac
  cmake --preset "$kind" -DVSL_E2E_GATEWAY_RUNNER=ON >/dev/null
  cmake --build "build-$kind" -j "$jobs" --target "${targets[@]}"
  # Sanitized code is slower: one test at a time per core, generous limits.
  ctest --test-dir "build-$kind" -L gateway -j "$jobs" --timeout 300 --output-on-failure
done
