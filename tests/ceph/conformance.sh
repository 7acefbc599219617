#!/usr/bin/env bash
# libiscsi's conformance suite (iscsi-test-cu) against an RBD LUN and a file
# LUN of the same size, served by one `vsl gateway` process on a throw-away
# Ceph cluster (tests/lib/ceph.sh): no test that passes on the file LUN may
# fail (or be skipped) on the RBD LUN. Each LUN is its own host's LUN 0 (two
# initiator names each, for the reservation tests). Every suite runs but
# Sanitize (it erases at the gateway's sanitize pace: minutes, and it only
# writes through the same Write/Unmap calls the other suites cover).
# Usage: conformance.sh VSL
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../lib/ceph.sh"
e2e_init 600

ceph_e2e_start
admin_rbd() { ceph_admin_rbd "$@"; }
check "a 64 MiB RBD image made" admin_rbd create --size 64M cu
make_file "$E2E_TMP/file.img" 64M

jq -n --arg pool "$VSL_CEPH_POOL" --arg conf "$VSL_CEPH_CONF" --arg user "$VSL_CEPH_USER" \
  --arg keyring "$VSL_CEPH_KEYRING" --arg file "$E2E_TMP/file.img" '
  {listen: "127.0.0.1:0", nop_interval: 0, hosts: [
    {name: "rbd", initiators: ["iqn.2026-11.org.example:rbd-a", "iqn.2026-11.org.example:rbd-b"],
     allow_no_auth: true,
     luns: [{lun: 0, extents: [{rbd: {pool: $pool, image: "cu", conf: $conf, user: $user, keyring: $keyring},
                                length: 67108864}]}]},
    {name: "file", initiators: ["iqn.2026-11.org.example:file-a", "iqn.2026-11.org.example:file-b"],
     allow_no_auth: true,
     luns: [{lun: 0, extents: [{path: $file, length: 67108864}]}]}]}' >"$E2E_TMP/gw.json"
gateway_up "$VSL" "$E2E_TMP/gw.json" gw

mapfile -t SUITES < <(iscsi-test-cu -l | sed -n 's/^ALL\.\([^.]*\)$/\1/p' | grep -vx Sanitize)
[[ ${#SUITES[@]} -gt 0 ]] || fail_now "iscsi-test-cu -l listed no suites"

# run_suites HOST: every suite against HOST's LUN 0; results in $E2E_TMP/HOST.results
run_suites() {
  local h=$1 s rc url="iscsi://$PORTAL/iqn.2026-11.org.vsl:$1/0"
  : >"$E2E_TMP/$h.results"
  for s in "${SUITES[@]}"; do
    rc=0
    timeout 120 iscsi-test-cu -d -v -i "iqn.2026-11.org.example:$h-a" -I "iqn.2026-11.org.example:$h-b" \
      -t "ALL.$s" "$url" "$url" >"$E2E_TMP/$h.$s.out" 2>&1 || rc=$?
    [[ $rc -gt 1 ]] && echo "    $h: suite $s: iscsi-test-cu exit status $rc"
    python3 "$HERE/../e2e/cunit_results.py" "$E2E_TMP/$h.$s.out" >>"$E2E_TMP/$h.results"
    # A suite that ended early: each test it did not report failed.
    iscsi-test-cu -l | sed -n "s/^ALL\.$s\.\([^.]*\)$/$s.\1/p" | while read -r t; do
      grep -q "^$t " "$E2E_TMP/$h.results" || echo "$t failed"
    done >>"$E2E_TMP/$h.results"
  done
  sort -o "$E2E_TMP/$h.results" "$E2E_TMP/$h.results"
}
counts() {
  printf '%-4s passed %3d  skipped %3d  failed %3d\n' "$1" "$(grep -c ' passed$' "$E2E_TMP/$1.results")" \
    "$(grep -c ' skipped$' "$E2E_TMP/$1.results")" "$(grep -c ' failed$' "$E2E_TMP/$1.results")"
}

log "iscsi-test-cu on the file LUN"
run_suites file
log "iscsi-test-cu on the RBD LUN"
run_suites rbd
counts file
counts rbd
check_ne "the file LUN passes tests" 0 "$(grep -c ' passed$' "$E2E_TMP/file.results")"
join "$E2E_TMP/file.results" "$E2E_TMP/rbd.results" | awk '$2 == "passed" && $3 != "passed" {print $1 " (rbd " $3 ")"}' \
  >"$E2E_TMP/regressions"
check_eq "no test that passes on the file LUN fails or is skipped on the RBD LUN" "" "$(cat "$E2E_TMP/regressions")"
check_eq "the RBD LUN ran every test the file LUN ran" "$(wc -l <"$E2E_TMP/file.results")" "$(wc -l <"$E2E_TMP/rbd.results")"
check "vsl gateway stops cleanly" stop_pid "$GW" 10
e2e_finish
