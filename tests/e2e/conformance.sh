#!/usr/bin/env bash
# libiscsi's conformance suite (iscsi-test-cu) against vsl and against tgt in
# one run: the same 64 MiB file-backed LUN size, the host's two initiator
# names (-i, -I) and its CHAP secret; LUN 0 is writable, LUN 1 (a copy of the
# same size) is mapped read-only and serves the ReadOnly family. Prints, for each, the counts of tests
# passed (not skipped), skipped and failed; fails if vsl does not pass a test
# that tgt passes, and lists those tests.
#
# Usage: conformance.sh [VSL_BIN]
#   E2E_TARGET=tgt runs tgt against tgt (to check the harness).
#   CU_SUITES="Read10 Write10" runs only these suites.
#
# Each suite runs as its own iscsi-test-cu process with a timeout, so a hang
# in one suite costs only that suite (its tests count as failed).
#
# Options and exclusions, for the reader:
#  * -d (--dataloss): the write tests need it; the LUNs are scratch files.
#  * -S (--allow-sanitize): the Sanitize family erases LUN 0, a scratch file.
#    vsl paces a sanitize at sanitize_mib_per_second (12 here): a 64 MiB LUN
#    then takes about 10 s (overwrite + verify), which Sanitize.Reset needs
#    (it checks the sanitize is still running ~5 s after it started, across
#    task management resets and a reconnect); its suite gets a longer timeout.
#  * vsl's nop_interval is 0 (no NOP-In pings): iscsi-test-cu's synchronous
#    calls do not answer a ping while a test sleeps, and Sanitize.Reset sleeps
#    60 s between TEST UNIT READYs; the gateway would close the silent
#    connection after nop_interval + nop_timeout, libiscsi would log in again
#    and meet a new POWER ON unit attention on every try, for ever.
#  * ReadOnly runs against LUN 1 (read_only in the configuration, tgt's
#    readonly=1): the family skips itself on a writable LU.
#  * Tests vsl still reports skipped, on purpose:
#    - PreventAllow.* and StartStopUnit.Simple: the medium is not removable
#      (RMB=0); a virtual disk cannot be ejected, so the tests skip.
#    - Reserve6.TargetColdReset: vsl does not implement the TARGET COLD RESET
#      task management function (RFC 7143 leaves it optional); the test skips.
#    - Sanitize.CryptoErase: a file-backed LU has no media encryption key to
#      change, so CRYPTOGRAPHIC ERASE is not offered (REPORT SUPPORTED
#      OPERATION CODES) and is refused with INVALID FIELD IN CDB.
#    - Sanitize.Readonly and Sanitize.Reservations: their OVERWRITE and BLOCK
#      ERASE checks run and pass; their CRYPTOGRAPHIC ERASE part prints
#      [SKIPPED], and cunit_results.py counts any [SKIPPED] as a skipped test.
#  * A test vsl fails on purpose: GetLBAStatus.UnmapSingle. vsl reports the
#    file system block as the physical block (READ CAPACITY(16) LOGICAL
#    BLOCKS PER PHYSICAL BLOCK EXPONENT 3 for 4 KiB), which is what lets the
#    LBPPB > 1 tests (WriteSame*.UnmapUnaligned, *.InvalidDataOutSize) run.
#    With LBPPB > 1 that test asks GET LBA STATUS from LBA i+1 and expects the
#    first descriptor at LBA i+LBPPB, where SBC-4 (5.8.2.3) requires it to be
#    the starting LBA, i+1 (libiscsi 1.19 and its master alike). tgt skips it
#    (no thin provisioning), so it does not fail the comparison.
#  * The multipath URL (second argument) is the same target and LUN again:
#    MultipathIO tests then use two sessions (I_T nexuses) to one LU.
#  * Excluded suites: see EXCLUDED below (none at present: the whole ALL
#    family runs in well under two minutes per target).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/common.sh"
source "$here/../lib/target.sh"
e2e_init 1500
UNDER_TEST=$E2E_TARGET
target_use_args "$@"

# Suite -> why it is not run.
declare -A EXCLUDED=()
SUITE_TIMEOUT=${CU_SUITE_TIMEOUT:-120}
# Suites that wait on purpose (Sanitize.Reset polls every 60 s) get longer.
declare -A SUITE_TIMEOUTS=([Sanitize]=400)
# Suites whose tests each run in an iscsi-test-cu process of their own:
# Sanitize.Reservations leaves the second session's RESERVE(6) in place (the
# multipath session is never logged out), which would turn the next test's
# SANITIZE into a RESERVATION CONFLICT on any target that keeps SPC-2
# reservations until release, reset or nexus loss.
declare -A TEST_BY_TEST=([Sanitize]=1)
# Time for all suites against one target; what is left then does not run
# (and counts as failed).
BUDGET=${CU_BUDGET:-900}

INI_A=iqn.2026-11.org.example:cu-a
INI_B=iqn.2026-11.org.example:cu-b
SECRET=cu-secret-0123456
cat_farm() {
  make_file "$E2E_TMP/$1.img" 64M
  make_file "$E2E_TMP/$1-ro.img" 64M
  cat >"$E2E_TMP/$1.json" <<JSON
{ "iqn_prefix": "iqn.2026-11.org.vsl",
  "sanitize_mib_per_second": 12, "nop_interval": 0,
  "hosts": [ { "name": "cu", "initiators": ["$INI_A", "$INI_B"],
               "chap": {"user": "cu", "secret": "$SECRET"},
               "luns": [ { "lun": 0, "extents": [
                 {"path": "$E2E_TMP/$1.img", "offset": 0, "length": 67108864} ] },
                         { "lun": 1, "read_only": true, "extents": [
                 {"path": "$E2E_TMP/$1-ro.img", "offset": 0, "length": 67108864} ] } ] } ] }
JSON
}

if [[ -n "${CU_SUITES:-}" ]]; then
  read -r -a SUITES <<<"$CU_SUITES"
else
  mapfile -t SUITES < <(iscsi-test-cu -l | sed -n 's/^ALL\.\([^.]*\)$/\1/p')
fi
[[ ${#SUITES[@]} -gt 0 ]] || fail_now "iscsi-test-cu -l listed no suites"
for s in "${!EXCLUDED[@]}"; do echo "excluded suite $s: ${EXCLUDED[$s]}"; done

# run_suites NAME URL RO_URL: runs every suite against URL (ReadOnly against
# RO_URL, the read-only LUN); results in NAME.results.
run_suites() {
  local name=$1 rw_url=$2 ro_url=$3 url s rc start=$SECONDS
  : >"$E2E_TMP/$name.results"
  # A target that does not even answer INQUIRY gets no suites (all fail).
  if ! timeout 30 iscsi-inq -i "$INI_A" "$rw_url" >"$E2E_TMP/$name.inq" 2>&1; then
    echo "    $name: iscsi-inq $rw_url failed; no suite runs:"
    sed 's/^/      | /' "$E2E_TMP/$name.inq"
    start=$((SECONDS - BUDGET - 1))
  fi
  for s in "${SUITES[@]}"; do
    [[ -n "${EXCLUDED[$s]:-}" ]] && continue
    rc=0
    url=$rw_url
    [[ $s == ReadOnly ]] && url=$ro_url
    if ((SECONDS - start > BUDGET)); then
      echo "    $name: suite $s not run: the ${BUDGET}s budget is spent"
      : >"$E2E_TMP/$name.$s.out"
    elif [[ -n "${TEST_BY_TEST[$s]:-}" ]]; then
      : >"$E2E_TMP/$name.$s.out"
      local t trc
      for t in $(iscsi-test-cu -l | sed -n "s/^ALL\.$s\.\([^.]*\)$/\1/p"); do
        trc=0
        timeout "${SUITE_TIMEOUTS[$s]:-$SUITE_TIMEOUT}" iscsi-test-cu -d -S -v -i "$INI_A" -I "$INI_B" \
          -t "ALL.$s.$t" "$url" "$url" >>"$E2E_TMP/$name.$s.out" 2>&1 || trc=$?
        ((trc > rc)) && rc=$trc
      done
    else
      timeout "${SUITE_TIMEOUTS[$s]:-$SUITE_TIMEOUT}" iscsi-test-cu -d -S -v -i "$INI_A" -I "$INI_B" -t "ALL.$s" \
        "$url" "$url" >"$E2E_TMP/$name.$s.out" 2>&1 || rc=$?
    fi
    # Exit status 1 only means some test failed.
    if [[ $rc -gt 1 ]]; then
      echo "    $name: suite $s: iscsi-test-cu exit status $rc$([[ $rc -eq 124 ]] && echo ' (timed out)')"
      tail -n 5 "$E2E_TMP/$name.$s.out" | sed 's/^/      | /'
    fi
    python3 "$here/cunit_results.py" "$E2E_TMP/$name.$s.out" >>"$E2E_TMP/$name.results"
    # A suite that ended before printing its tests: every test it has fails.
    iscsi-test-cu -l | sed -n "s/^ALL\.$s\.\([^.]*\)$/$s.\1/p" | while read -r t; do
      grep -q "^$t " "$E2E_TMP/$name.results" || echo "$t failed"
    done >"$E2E_TMP/missing"
    cat "$E2E_TMP/missing" >>"$E2E_TMP/$name.results"
  done
}

counts() {
  local f="$E2E_TMP/$1.results"
  printf '%-4s passed %3d  skipped %3d  failed %3d  (of %d)\n' "$1" \
    "$(grep -c ' passed$' "$f" || true)" "$(grep -c ' skipped$' "$f" || true)" \
    "$(grep -c ' failed$' "$f" || true)" "$(wc -l <"$f")"
}

log "tgt"
E2E_TARGET=tgt
cat_farm tgt
target_start "$E2E_TMP/tgt.json"
TGT_URL=$(target_url cu 0 cu "$SECRET")
SECONDS=0
run_suites tgt "$TGT_URL" "$(target_url cu 1 cu "$SECRET")"
echo "    tgt took ${SECONDS}s"
target_stop || true

log "$UNDER_TEST (under test)"
E2E_TARGET=$UNDER_TEST
cat_farm vsl
target_start "$E2E_TMP/vsl.json"
VSL_URL=$(target_url cu 0 cu "$SECRET")
SECONDS=0
run_suites vsl "$VSL_URL" "$(target_url cu 1 cu "$SECRET")"
echo "    $UNDER_TEST took ${SECONDS}s"
check "$UNDER_TEST stops cleanly after the suite" target_stop

log "results"
counts tgt
counts vsl
join <(sort "$E2E_TMP/tgt.results") <(sort "$E2E_TMP/vsl.results") >"$E2E_TMP/both"
awk '$2 == "passed" && $3 != "passed" {print "  " $1 " (tgt passed, vsl " $3 ")"}' \
  "$E2E_TMP/both" >"$E2E_TMP/regressions"
awk '$2 != "passed" && $3 == "passed" {print "  " $1 " (tgt " $2 ")"}' \
  "$E2E_TMP/both" >"$E2E_TMP/better"
# A test tgt passed that has no result for vsl at all also counts.
awk '$2 == "passed" {print $1}' "$E2E_TMP/tgt.results" | sort | while read -r t; do
  grep -q "^$t " "$E2E_TMP/vsl.results" || echo "  $t (tgt passed, vsl has no result)"
done >>"$E2E_TMP/regressions"
if [[ -s "$E2E_TMP/better" ]]; then
  echo "tests vsl passes and tgt does not:"
  cat "$E2E_TMP/better"
fi
if grep -q ' failed$' "$E2E_TMP/vsl.results"; then
  echo "tests $UNDER_TEST fails (whatever tgt does), with CUnit's first failed assertions:"
  awk '$2 == "failed" {print "  " $1}' "$E2E_TMP/vsl.results"
  for suite in $(awk '$2 == "failed" {sub(/\..*/, "", $1); print $1}' "$E2E_TMP/vsl.results" | sort -u); do
    echo "  suite $suite:"
    grep -E '^ +[0-9]+\. ' "$E2E_TMP/vsl.$suite.out" | head -n 8 | sed 's/^ */    /' || true
  done
fi
if [[ -s "$E2E_TMP/regressions" ]]; then
  echo "tests tgt passes and vsl does not:"
  cat "$E2E_TMP/regressions"
fi
check_eq "vsl passes every test tgt passes ($(wc -l <"$E2E_TMP/regressions") do not)" 0 \
  "$(wc -l <"$E2E_TMP/regressions")"
check "tgt passed some tests (the comparison means something)" grep -q ' passed$' "$E2E_TMP/tgt.results"

e2e_finish
