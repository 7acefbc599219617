#!/usr/bin/env bash
# libiscsi's tools against the target: discovery (iscsi-ls) shows each host
# only its own target, with CHAP; INQUIRY (iscsi-inq) answers the standard
# page and VPD 0x00/0x80/0x83; the NAA identifier differs between volumes and
# stays the same across a restart of the target. vsl only: it prints its
# listen address, and refuses a bad configuration naming the JSON path.
#
# Usage: tools.sh [VSL_BIN]     (E2E_TARGET=tgt runs it against tgtd)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/common.sh"
source "$here/../lib/target.sh"
source "$here/../lib/tools.sh"
e2e_init 300
target_use_args "$@"

INI1=iqn.2026-11.org.example:web1
INI2=iqn.2026-11.org.example:web2
make_file "$E2E_TMP/a.img" 64M
make_file "$E2E_TMP/b.img" 32M
make_file "$E2E_TMP/c.img" 16M
cat >"$E2E_TMP/farm.json" <<JSON
{ "iqn_prefix": "iqn.2026-11.org.vsl",
  "hosts": [
    { "name": "web1", "initiator": "$INI1",
      "chap": {"user": "web1", "secret": "web1-secret-0123"},
      "luns": [
        { "lun": 0, "extents": [ {"path": "$E2E_TMP/a.img", "offset": 0, "length": 67108864} ] },
        { "lun": 1, "extents": [ {"path": "$E2E_TMP/b.img", "offset": 0, "length": 33554432} ] } ] },
    { "name": "web2", "initiator": "$INI2",
      "chap": {"user": "web2", "secret": "web2-secret-4567"},
      "luns": [
        { "lun": 0, "extents": [ {"path": "$E2E_TMP/c.img", "offset": 0, "length": 16777216} ] } ] } ] }
JSON
target_start "$E2E_TMP/farm.json"
VPD=$(vpd_tool)
if [[ "$E2E_TARGET" == vsl ]]; then
  check "vsl prints the address it listens on" grep -q "$TARGET_PORTAL" "$TARGET_LOG"
fi

web1() { iscsi-ls -i "$INI1" "iscsi://web1%web1-secret-0123@$TARGET_PORTAL" "$@"; }
web2() { iscsi-ls -i "$INI2" "iscsi://web2%web2-secret-4567@$TARGET_PORTAL" "$@"; }

log "discovery"
check "iscsi-ls as web1 succeeds" run_to "$E2E_TMP/d1.out" web1
check "web1's discovery lists web1's target" grep -q "Target:$(target_name web1) " "$E2E_TMP/d1.out"
check_not "web1's discovery does not list web2's target" grep -q "$(target_name web2)" "$E2E_TMP/d1.out"
check_eq "web1's discovery lists exactly one target" 1 "$(grep -c '^Target:' "$E2E_TMP/d1.out" || true)"
check "iscsi-ls as web2 succeeds" run_to "$E2E_TMP/d2.out" web2
check "web2's discovery lists web2's target" grep -q "Target:$(target_name web2) " "$E2E_TMP/d2.out"
check_not "web2's discovery does not list web1's target" grep -q "$(target_name web1)" "$E2E_TMP/d2.out"

log "LUN listing (iscsi-ls -s logs in to the target)"
check "iscsi-ls -s as web1 succeeds" run_to "$E2E_TMP/l1.out" web1 -s
check "web1 sees LUN $(target_lun 0) as a 64 MiB disk" \
  grep -qE "^Lun:$(target_lun 0) +Type:DIRECT_ACCESS \(Size:6[34]M\)" "$E2E_TMP/l1.out"
check "web1 sees LUN $(target_lun 1) as a 32 MiB disk" \
  grep -qE "^Lun:$(target_lun 1) +Type:DIRECT_ACCESS \(Size:3[12]M\)" "$E2E_TMP/l1.out"
check "iscsi-ls -s as web2 succeeds" run_to "$E2E_TMP/l2.out" web2 -s
check "web2 sees LUN $(target_lun 0) as a 16 MiB disk" \
  grep -qE "^Lun:$(target_lun 0) +Type:DIRECT_ACCESS \(Size:1[56]M\)" "$E2E_TMP/l2.out"
check_not "web2 sees no LUN $(target_lun 1)" grep -qE "^Lun:$(target_lun 1) " "$E2E_TMP/l2.out"

inq() { iscsi-inq -i "$INI1" "$@" "$(target_url web1 "$LUN" web1 web1-secret-0123)"; }
log "standard INQUIRY"
LUN=0
check "iscsi-inq (standard) succeeds" run_to "$E2E_TMP/inq.out" inq
check "peripheral qualifier is CONNECTED" grep -qx "Peripheral Qualifier:CONNECTED" "$E2E_TMP/inq.out"
check "device type is DIRECT_ACCESS" grep -qx "Peripheral Device Type:DIRECT_ACCESS" "$E2E_TMP/inq.out"
check "response data format is 2" grep -qx "ReponseDataFormat:2" "$E2E_TMP/inq.out"
check "CmdQue is set" grep -qx "CmdQue:1" "$E2E_TMP/inq.out"
check "vendor identification is not blank" grep -qE "^Vendor:.*[^ ]" "$E2E_TMP/inq.out"
check "product identification is not blank" grep -qE "^Product:.*[^ ]" "$E2E_TMP/inq.out"

log "VPD pages"
check "iscsi-inq VPD 0x00 succeeds" run_to "$E2E_TMP/vpd0.out" inq -e 1 -c 0
for p in 0x00 0x80 0x83 0xb0 0xb1 0xb2; do
  check "VPD 0x00 lists page $p" grep -q "^Page:$p " "$E2E_TMP/vpd0.out"
done
serial() { inq -e 1 -c 128 | sed -n 's/^Unit Serial Number:\[ *\(.*\)\]$/\1/p'; }
check "VPD 0x80 answers" inq -e 1 -c 128
s0=$(serial || true)
LUN=1 s1=$(serial || true)
check_ne "unit serial numbers of web1's two volumes differ" "$s0" "$s1"

# naa URL-HOST-LUN: the NAA designators (association: logical unit) of page 0x83.
naa() {
  local host=$1 lun=$2 ini=$3 user=$4 secret=$5
  "$VPD" "$ini" "$(target_url "$host" "$lun" "$user" "$secret")" 0x83 |
    sed -n 's/^designator assoc=0 type=3 codeset=1 id=//p' | sort | tr '\n' ' '
}
check "VPD 0x83 answers" "$VPD" "$INI1" "$(target_url web1 0 web1 web1-secret-0123)" 0x83
n10=$(naa web1 0 "$INI1" web1 web1-secret-0123 || true)
n11=$(naa web1 1 "$INI1" web1 web1-secret-0123 || true)
n20=$(naa web2 0 "$INI2" web2 web2-secret-4567 || true)
echo "    NAA web1/0: $n10; web1/1: $n11; web2/0: $n20"
check "VPD 0x83 has a binary NAA designator for the logical unit" test -n "$n10"
# NAA 2, 3 and 5 are 8 bytes long, NAA 6 is 16 (SPC-4 7.8.6.6).
valid_naa() {
  local id
  for id in $1; do
    [[ "$id" =~ ^[235][0-9a-f]{15}$ || "$id" =~ ^6[0-9a-f]{31}$ ]] || return 1
  done
}
check "every NAA designator has a valid NAA type and length ($n10)" valid_naa "$n10"
check_ne "NAA of web1 LUN 0 differs from web1 LUN 1" "$n10" "$n11"
check_ne "NAA of web1 LUN 0 differs from web2 LUN 0" "$n10" "$n20"
check_ne "NAA of web1 LUN 1 differs from web2 LUN 0" "$n11" "$n20"

log "restart the target with the same configuration"
check "the target stops on its stop signal" target_stop
target_start "$E2E_TMP/farm.json"
check_eq "NAA of web1 LUN 0 is the same after a restart" "$n10" "$(naa web1 0 "$INI1" web1 web1-secret-0123 || true)"
check_eq "NAA of web1 LUN 1 is the same after a restart" "$n11" "$(naa web1 1 "$INI1" web1 web1-secret-0123 || true)"
check_eq "NAA of web2 LUN 0 is the same after a restart" "$n20" "$(naa web2 0 "$INI2" web2 web2-secret-4567 || true)"
LUN=0
check_eq "unit serial number of web1 LUN 0 is the same after a restart" "$s0" "$(serial || true)"

if [[ "$E2E_TARGET" == vsl ]]; then
  log "a bad configuration is refused at start, naming the JSON path"
  # bad_config JQ-FILTER PATH-REGEX: vsl must exit non-zero, naming PATH.
  bad_config() {
    local rc=0
    jq --arg l "127.0.0.1:$(free_port)" ".listen = \$l | $1" "$E2E_TMP/farm.json" >"$E2E_TMP/bad.json"
    timeout 10 "$VSL_BIN" gateway --config "$E2E_TMP/bad.json" >"$E2E_TMP/bad.out" 2>&1 || rc=$?
    cat "$E2E_TMP/bad.out"
    [[ $rc -ne 0 && $rc -ne 124 ]] && grep -qE "$2" "$E2E_TMP/bad.out"
  }
  check "an extent length that is not a multiple of 512" \
    bad_config '.hosts[1].luns[0].extents[0].length = 1000' 'hosts\[1\]\.luns\[0\]\.extents\[0\]\.length'
  check "an extent file that does not exist" \
    bad_config '.hosts[0].luns[1].extents[0].path = "/nonexistent/x.img"' 'hosts\[0\]\.luns\[1\]\.extents\[0\]'
  check "a host without chap and without allow_no_auth" \
    bad_config 'del(.hosts[1].chap)' 'hosts\[1\]'
  check "a host without an initiator name" \
    bad_config 'del(.hosts[0].initiator)' 'hosts\[0\]'
fi

e2e_finish
