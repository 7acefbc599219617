#!/usr/bin/env bash
# Isolation between hosts: a wrong CHAP secret, the right secret under
# another initiator name, another host's target, no credentials, a wrong
# mutual-CHAP secret of the target: each login is refused (iscsi-inq,
# iscsi-ls -s and qemu-img all fail with a login error), while the right
# combinations work. Discovery shows each host only its own target. Also: a
# host with two initiator names logs in with either; a host configured with
# allow_no_auth logs in without CHAP; a read-only LUN refuses writes.
#
# Usage: isolation.sh [VSL_BIN]     (E2E_TARGET=tgt runs it against tgtd)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/common.sh"
source "$here/../lib/target.sh"
e2e_init 400
target_use_args "$@"

P=iqn.2026-11.org.example
for f in web1 web2 multi open ro; do make_file "$E2E_TMP/$f.img" 8M; done
lun() { echo "{ \"lun\": 0, \"read_only\": $2, \"extents\": [ {\"path\": \"$E2E_TMP/$1.img\", \"offset\": 0, \"length\": 8388608} ] }"; }
cat >"$E2E_TMP/farm.json" <<JSON
{ "iqn_prefix": "iqn.2026-11.org.vsl",
  "hosts": [
    { "name": "web1", "initiator": "$P:web1", "chap": {"user": "web1", "secret": "web1-secret-aaaa"},
      "luns": [ $(lun web1 false) ] },
    { "name": "web2", "initiator": "$P:web2", "chap": {"user": "web2", "secret": "web2-secret-bbbb"},
      "mutual_chap": {"user": "target-web2", "secret": "web2-target-cccc"},
      "luns": [ $(lun web2 false) ] },
    { "name": "multi", "initiators": ["$P:multi-a", "$P:multi-b"],
      "chap": {"user": "multi", "secret": "multi-secret-dddd"}, "luns": [ $(lun multi false) ] },
    { "name": "open", "initiator": "$P:open", "allow_no_auth": true, "luns": [ $(lun open false) ] },
    { "name": "ro", "initiator": "$P:ro", "chap": {"user": "ro", "secret": "ro-secret-eeeeee"},
      "luns": [ $(lun ro true) ] } ] }
JSON
target_start "$E2E_TMP/farm.json"

LOGIN_ERROR='[Ll]og ?in|[Aa]uthentication|[Aa]uthorization|not found|CHAP'
# inq INITIATOR HOST [USER SECRET [TARGET-USER TARGET-SECRET]]
inq() {
  local url
  url=$(target_url "$2" 0 "${@:3:2}")
  [[ $# -ge 6 ]] && url="$url?target_user=$5&target_password=$6"
  timeout 30 iscsi-inq -i "$1" "$url"
}
lsl() { timeout 30 iscsi-ls -s -i "$1" "iscsi://${3:+$3%$4@}$TARGET_PORTAL"; }
qinfo() {
  timeout 30 qemu-img info --object "secret,id=s,data=${4:-none}" \
    --image-opts "$(target_qemu_opts "$2" 0 "$1" "${3:-}" s)"
}
# refused WHAT INITIATOR HOST [USER SECRET]: a login that must fail three ways.
refused() {
  local what=$1
  shift
  check "iscsi-inq: $what is refused with a login error" expect_login_error inq "$@"
  check "iscsi-ls -s: $what is refused" lsl_refused "$@"
  check "qemu-img: $what is refused" expect_qemu_error qinfo "$@"
}
expect_login_error() {
  local rc=0
  "$@" >"$E2E_TMP/out" 2>&1 || rc=$?
  cat "$E2E_TMP/out"
  [[ $rc -ne 0 && $rc -ne 124 ]] && grep -qE "$LOGIN_ERROR" "$E2E_TMP/out"
}
expect_qemu_error() {
  local rc=0
  "$@" >"$E2E_TMP/out" 2>&1 || rc=$?
  cat "$E2E_TMP/out"
  [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "qemu-img: Could not open" "$E2E_TMP/out"
}
# iscsi-ls -s lists the LUNs of every target discovery shows; a refusal is a
# failed login to the host's target (and no LUN listed), or that target not
# being shown at all.
lsl_refused() {
  local rc=0
  lsl "$1" "$2" "${@:3}" >"$E2E_TMP/ls" 2>&1 || rc=$?
  cat "$E2E_TMP/ls"
  [[ $rc -ne 124 ]] || return 1
  if grep -q "^Target:$(target_name "$2") " "$E2E_TMP/ls"; then
    [[ $rc -ne 0 ]] && grep -qE "$LOGIN_ERROR" "$E2E_TMP/ls" &&
      ! grep -qE '^Lun:' "$E2E_TMP/ls"
  fi
}

log "the right initiator name and secret work (controls)"
check "web1 opens its target" inq "$P:web1" web1 web1 web1-secret-aaaa
check "web2 opens its target with mutual CHAP" inq "$P:web2" web2 web2 web2-secret-bbbb target-web2 web2-target-cccc
check "qemu-img as web1 opens web1's LUN 0" qinfo "$P:web1" web1 web1 web1-secret-aaaa

log "refusals"
refused "web1 with a wrong secret" "$P:web1" web1 web1 web1-secret-aaab
refused "web1's user and secret under web2's initiator name" "$P:web2" web1 web1 web1-secret-aaaa
refused "web1's user and secret under an unknown initiator name" "$P:intruder" web1 web1 web1-secret-aaaa
refused "web1 (name and secret) opening web2's target" "$P:web1" web2 web1 web1-secret-aaaa
refused "web2's user and secret from web1's initiator name on web2's target" "$P:web1" web2 web2 web2-secret-bbbb
refused "web2's user and secret on web1's target" "$P:web1" web1 web2 web2-secret-bbbb
refused "web1 without credentials" "$P:web1" web1
refused "the no-auth host's name on web1's target" "$P:open" web1
check "iscsi-inq: a target that answers web2's mutual CHAP wrongly is refused" \
  expect_login_error inq "$P:web2" web2 web2 web2-secret-bbbb target-web2 web2-target-cccd

log "discovery shows each host only its own target"
# disc INITIATOR [USER SECRET]: the targets discovery lists, one line.
disc() {
  timeout 30 iscsi-ls -i "$1" "iscsi://${2:+$2%$3@}$TARGET_PORTAL" 2>/dev/null |
    sed -n 's/^Target:\([^ ]*\) .*/\1/p' | sort | tr '\n' ' '
}
check_eq "web1 discovers only web1" "$(target_name web1) " "$(disc "$P:web1" web1 web1-secret-aaaa)"
check_eq "web2 discovers only web2" "$(target_name web2) " "$(disc "$P:web2" web2 web2-secret-bbbb)"
check_eq "multi (first name) discovers only multi" "$(target_name multi) " "$(disc "$P:multi-a" multi multi-secret-dddd)"
check_eq "multi (second name) discovers only multi" "$(target_name multi) " "$(disc "$P:multi-b" multi multi-secret-dddd)"
check_eq "the no-auth host discovers only its target" "$(target_name open) " "$(disc "$P:open")"
check_eq "an unknown initiator name discovers nothing" "" "$(disc "$P:intruder" web1 web1-secret-aaaa)"

log "a host with two initiator names"
check "multi opens its target as multi-a" inq "$P:multi-a" multi multi multi-secret-dddd
check "multi opens its target as multi-b" inq "$P:multi-b" multi multi multi-secret-dddd
refused "multi's secret under a third name" "$P:multi-c" multi multi multi-secret-dddd

log "a host allowed without authentication"
check "the no-auth host opens its target without CHAP" inq "$P:open" open
check "iscsi-ls -s as the no-auth host lists its LUN" \
  bash -c "timeout 30 iscsi-ls -s -i '$P:open' 'iscsi://$TARGET_PORTAL' | grep -qE '^Lun:$(target_lun 0) +Type:DIRECT_ACCESS'"

log "a read-only LUN"
RO=(--object "secret,id=s,data=ro-secret-eeeeee" --image-opts "$(target_qemu_opts ro 0 "$P:ro" ro s)")
check "qemu-io -r reads the read-only LUN" timeout 30 qemu-io -r "${RO[@]}" -c "read 0 4096"
check_fails "qemu-io cannot write the read-only LUN" timeout 30 qemu-io "${RO[@]}" -c "write -P 0x33 0 4096"
check "the read-only LUN's file is untouched" cmp -n 4096 "$E2E_TMP/ro.img" /dev/zero

e2e_finish
