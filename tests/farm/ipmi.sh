#!/usr/bin/env bash
# The ipmi power driver end to end: OpenIPMI's BMC simulator (ipmi_sim) is
# the BMC of host h1 on 127.0.0.1 (lanplus, a user with a password); its
# startcmd is a QEMU VM with an IPMI BMC device connected back to the
# simulator, booting from h1's LUN 0 through the gateway with h1's CHAP
# credentials. `vsl serve --power ipmi`:
#   * farm apply powers the VM on through the BMC; it boots its own disk;
#     ipmitool says the power is on;
#   * vsl serve stops and starts again: the server keeps running;
#   * farm destroy powers it off: the VM process is gone, the BMC says off;
#   * with a wrong BMC password the power step fails naming the host, the
#     BMC and ipmitool's message; nothing is started, the farm is failed,
#     and destroy frees its disks;
#   * the password is in no API answer, no log, no ipmitool argv;
#   * bad BMC fields are refused with errors naming them.
#   ipmi.sh VSL
set -uo pipefail
VSL=$(realpath "$1")
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/lib.sh"
e2e_init 150

for tool in ipmi_sim ipmitool qemu-system-x86_64; do
  command -v "$tool" >/dev/null || fail_now "$tool is missing (scripts/deps.sh installs it)"
done

good=goodBMCpass-42
bad=wrongBMCpass-42
printf '%s\n' "$good" >"$E2E_TMP/good.pw"
printf '%s\n' "$bad" >"$E2E_TMP/bad.pw"
chmod 600 "$E2E_TMP/good.pw" "$E2E_TMP/bad.pw"

# Every ipmitool vsl runs goes through this wrapper, which keeps its argv
# and whether the password reached it through the environment.
cat >"$E2E_TMP/ipmitool" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$E2E_TMP/ipmitool.argv"
[ -n "\$IPMI_PASSWORD" ] && echo env-password >>"$E2E_TMP/ipmitool.argv"
exec ipmitool "\$@"
EOF
chmod 755 "$E2E_TMP/ipmitool"

data=$E2E_TMP/data
farm_serve "$data" --power ipmi --ipmi-cipher 3 --ipmitool "$E2E_TMP/ipmitool"

BMC_PORT=$(free_port)
KCS_PORT=$(free_port)
console=$E2E_TMP/h1.console
# The VM: h1's LUN 0 through QEMU's initiator (as the qemu driver starts it)
# and the IPMI BMC device whose chardev connects to the simulator.
vm="qemu-system-x86_64 -name vsl-ipmi-h1 -machine accel=tcg -m 64 -display none -no-user-config -nodefaults"
vm+=" -serial file:$console"
vm+=" -iscsi initiator-name=iqn.2026-11.org.example:h1,user=h1,password=secret-of-h1-0123"
vm+=" -drive file=iscsi://$PORTAL/iqn.2026-11.org.vsl:h1/0,if=ide,format=raw,index=0 -boot c"
vm+=" -chardev socket,id=ipmi0,host=127.0.0.1,port=$KCS_PORT,reconnect=10"
vm+=" -device ipmi-bmc-extern,chardev=ipmi0,id=bmc0 -device isa-ipmi-kcs,bmc=bmc0"
cat >"$E2E_TMP/lan.conf" <<EOF
name "vslh1"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $BMC_PORT
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid a123456789abcdefa123456789abcdef
  endlan
  serial kcs 127.0.0.1 $KCS_PORT codec VM ipmb 0x20
  startcmd "$vm"
  startnow false
  poweroff_wait 2
  kill_wait 2
  user 2 true "vsladmin" "$good" admin 10 md5
EOF
cat >"$E2E_TMP/bmc.emu" <<'EOF'
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
EOF
mkdir -p "$E2E_TMP/bmc-state"
ipmi_sim -c "$E2E_TMP/lan.conf" -f "$E2E_TMP/bmc.emu" -s "$E2E_TMP/bmc-state" -n >"$E2E_TMP/ipmi_sim.log" 2>&1 &
SIM_PID=$!
# vm_pids: the simulator's VM, found by its console file (unique to this run).
vm_pids() { pgrep -f -- "-serial file:$console" || true; }
e2e_on_exit "for p in \$(pgrep -f -- '-serial file:$console'); do kill -9 \$p; done; kill $SIM_PID"

bmc() { IPMI_PASSWORD=$good ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$BMC_PORT" -U vsladmin -E "$@"; }
for ((i = 0; i < 50; i++)); do bmc chassis power status >/dev/null 2>&1 && break; sleep 0.2; done
check "the BMC simulator answers; the power is off" bash -c "$(declare -f bmc); BMC_PORT=$BMC_PORT good=$good; bmc chassis power status | grep -q 'Chassis Power is off'"

log "hosts with a BMC"
check "add h1 with its BMC" bash -c "'$VSL' host add h1 --hw x86-vm --initiator iqn.2026-11.org.example:h1 \
  --chap-secret secret-of-h1-0123 --bmc '127.0.0.1:$BMC_PORT' --bmc-user vsladmin --bmc-password-file '$E2E_TMP/good.pw' \
  --json >'$E2E_TMP/add.json'"
check_eq "the answer to host add: CHAP secret, but of the BMC password only that it is set" \
  "$(jq -c '[.chap_secret, .bmc_password_set, has("bmc_password")]' "$E2E_TMP/add.json")" '["secret-of-h1-0123",true,false]'
check_not "nor anywhere else in it" grep -q "$good" "$E2E_TMP/add.json"
v host show h1 --json >"$E2E_TMP/h1.json"
check_eq "host show: the BMC's address" "$(jq -r .bmc_address "$E2E_TMP/h1.json")" 127.0.0.1
check_eq "host show: its port" "$(jq -r .bmc_port "$E2E_TMP/h1.json")" "$BMC_PORT"
check_eq "host show: its user" "$(jq -r .bmc_user "$E2E_TMP/h1.json")" vsladmin
check_eq "host show: a password is set" "$(jq -r .bmc_password_set "$E2E_TMP/h1.json")" true
check "host show (text) names the BMC" bash -c "'$VSL' host show h1 | grep -q '^bmc: 127.0.0.1:$BMC_PORT, user vsladmin, password set, boot device none'"
check_not "no answer holds the password" bash -c \
  "{ '$VSL' host show h1 --json; '$VSL' host list --json; '$VSL' host bmc h1 --bmc-user vsladmin --json; } | grep -q '$good'"

log "refused BMC settings"
# refused WHAT TEXT ARGS...: the command ARGS fails and its output holds TEXT.
refused_run() {
  local want=$1
  shift
  ! "$@" >"$E2E_TMP/refused.out" 2>&1 && grep -qF -- "$want" "$E2E_TMP/refused.out"
}
refused() {
  local what=$1
  shift
  check "refused: $what" refused_run "$@"
}
refused "an address that is no host name" "not a host name nor an IP address" "$VSL" host bmc h1 --bmc 'bmc;id'
refused "an address starting with -" "not a host name nor an IP address" "$VSL" host bmc h1 --bmc '-oProxyCommand=x'
refused "port 70000" "port '70000' is not a number from 1 to 65535" "$VSL" host bmc h1 --bmc 127.0.0.1:70000
refused "port 0" "port '0' is not a number from 1 to 65535" "$VSL" host bmc h1 --bmc 127.0.0.1:0
printf '%s\n' 123456789012345678901 >"$E2E_TMP/long.pw"
refused "a 21-byte password" "field 'password': must be 1 to 20" "$VSL" host bmc h1 --bmc-password-file "$E2E_TMP/long.pw"
api_put() {  # api_put BODY: PUT /v1/hosts/h1/bmc
  curl -s -X PUT -H "Authorization: Bearer $(cat "$data/admin.token")" -H 'Content-Type: application/json' \
    -d "$1" "$VSL_API/v1/hosts/h1/bmc"
}
check "API: port 0 refused" bash -c "$(declare -f api_put); data=$data VSL_API=$VSL_API; api_put '{\"port\": 0}' | grep -q \"field 'port': 0 is not a port from 1 to 65535\""
check "API: a user with a newline refused" bash -c "$(declare -f api_put); data=$data VSL_API=$VSL_API; api_put '{\"user\": \"a\\nb\"}' | grep -q \"field 'user': 'a.*b' is not at most 16\""
check "API: a password with a control byte refused" bash -c "$(declare -f api_put); data=$data VSL_API=$VSL_API; api_put '{\"password\": \"abc\\u0007def\"}' | grep -q \"field 'password': must be 1 to 20\""
check "API: an unknown bootdev refused" bash -c "$(declare -f api_put); data=$data VSL_API=$VSL_API; api_put '{\"bootdev\": \"floppy\"}' | grep -q \"field 'bootdev': 'floppy' is none of none, pxe or disk\""
# A value shaped like shell syntax: vsl runs no shell, and refuses it.
cat >"$E2E_TMP/h9.json" <<'JSON'
{"name": "h9", "hw": "x", "initiators": ["iqn.2026-11.org.example:h9"], "bmc_address": "bmc1;id>pwned", "bmc_password": "pw"}
JSON
curl -s -X POST -H "Authorization: Bearer $(cat "$data/admin.token")" -H 'Content-Type: application/json' \
  --data-binary @"$E2E_TMP/h9.json" "$VSL_API/v1/hosts" >"$E2E_TMP/h9.out"
check "API: host add with a bad BMC address refused" \
  grep -qF "field 'bmc_address': 'bmc1;id>pwned' is not a host name nor an IP address" "$E2E_TMP/h9.out"
check_fails "and h9 was not added" v host show h9
v host show h1 --json >"$E2E_TMP/h1.json"
check_eq "the refusals changed nothing" "$(jq -c '[.bmc_address, .bmc_port, .bmc_user, .bmc_bootdev]' "$E2E_TMP/h1.json")" \
  "[\"127.0.0.1\",$BMC_PORT,\"vsladmin\",\"none\"]"

log "apply: the farm powers h1 on through its BMC"
"$ROOT/scripts/make-farm-image.sh" "$E2E_TMP/demo.img" 1M
check "import the demo image" v image import demo "$E2E_TMP/demo.img"
cat >"$E2E_TMP/one.fml" <<'EOF'
<?xml version="1.0"?>
<farm fmlversion="1.2" name="bmcfarm">
  <tier id="1" name="web">
    <role>web-server</role>
    <min-servers>1</min-servers>
    <max-servers>1</max-servers>
    <init-servers>1</init-servers>
  </tier>
  <server-role id="web-server" name="Web server">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="scsi" drivesize="16MB">
      <diskimage type="system">demo</diskimage>
    </disk>
  </server-role>
</farm>
EOF
check "apply the farm" v farm apply "$E2E_TMP/one.fml"
check "the BMC says the power is on" bash -c "$(declare -f bmc); BMC_PORT=$BMC_PORT good=$good; bmc chassis power status | grep -q 'Chassis Power is on'"
check_ne "the VM runs" "$(vm_pids)" ""
booted() {
  for ((i = 0; i < 300; i++)); do
    grep -q '^vsl-farm: ready' "$console" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
check "h1 boots from its LUN 0" booted
check "h1 booted its own disk" grep -q '^vsl-farm: booted host h1 server bmcfarm-web-1' "$console"
check "farm show: h1 is on" bash -c "'$VSL' farm show bmcfarm | grep -q 'on host h1, power on'"
check "vsl ran ipmitool chassis power on" grep -q -- "-I lanplus -H 127.0.0.1 -p $BMC_PORT -U vsladmin -C 3 -E chassis power on" "$E2E_TMP/ipmitool.argv"
check "with the password in its environment" grep -q '^env-password$' "$E2E_TMP/ipmitool.argv"
check_not "and never in its argv" grep -q -- "$good" "$E2E_TMP/ipmitool.argv"

log "vsl serve restarts: the server keeps running, and is still the farm's"
check "serve stops" farm_serve_stop
check_ne "the VM still runs" "$(vm_pids)" ""
check "the BMC still says on" bash -c "$(declare -f bmc); BMC_PORT=$BMC_PORT good=$good; bmc chassis power status | grep -q 'Chassis Power is on'"
farm_serve "$data" --power ipmi --ipmi-cipher 3 --ipmitool "$E2E_TMP/ipmitool"

log "destroy powers h1 off"
check "destroy the farm" v farm destroy bmcfarm
check "the BMC says the power is off" bash -c "$(declare -f bmc); BMC_PORT=$BMC_PORT good=$good; bmc chassis power status | grep -q 'Chassis Power is off'"
gone() { for ((i = 0; i < 50; i++)); do [[ -z "$(vm_pids)" ]] && return 0; sleep 0.2; done; return 1; }
check "the VM is gone" gone
check "vsl ran ipmitool chassis power off" grep -q -- "-E chassis power off" "$E2E_TMP/ipmitool.argv"

log "a wrong BMC password fails the power step"
check "h1's BMC password changes (to a wrong one)" v host bmc h1 --bmc-password-file "$E2E_TMP/bad.pw"
rm -f "$console"
v farm apply "$E2E_TMP/one.fml" >"$E2E_TMP/apply.out" 2>&1
check_ne "the apply fails" "$?" 0
check "naming the power step" grep -q "power on bmcfarm-web-1 (host h1)) failed" "$E2E_TMP/apply.out"
check "the host and the BMC" grep -q "host 'h1': BMC 127.0.0.1:$BMC_PORT as user 'vsladmin': ipmitool chassis power on failed" "$E2E_TMP/apply.out"
check "with ipmitool's message" grep -q "Unable to establish IPMI v2 / RMCP+ session" "$E2E_TMP/apply.out"
check "farm show explains it" bash -c "'$VSL' farm show bmcfarm | grep -q 'last failure: step .*power on bmcfarm-web-1.*Unable to establish IPMI v2'"
check "farm list says failed" bash -c "'$VSL' farm list | grep -qE '^bmcfarm +failed'"
check "the BMC still says off" bash -c "$(declare -f bmc); BMC_PORT=$BMC_PORT good=$good; bmc chassis power status | grep -q 'Chassis Power is off'"
check_eq "no VM was started" "$(vm_pids)" ""
check "destroy the failed farm" v farm destroy bmcfarm
v image list --json >"$E2E_TMP/images.json"
v volume list --json >"$E2E_TMP/volumes.json"
check_eq "its disks are free again (only the image master is held)" "$(python3 - "$E2E_TMP/images.json" "$E2E_TMP/volumes.json" <<'PY'
import json, sys
def rows(path, key):
    d = json.load(open(path))
    return d.get(key, d) if isinstance(d, dict) else d
masters = {i.get("master_volume_id") for i in rows(sys.argv[1], "images")}
print([v["id"] for v in rows(sys.argv[2], "volumes") if v["state"] != "free" and v["id"] not in masters and not v.get("parent_id")])
PY
)" "[]"
check_eq "h1 is idle" "$(v host list | awk '$1 == "h1" {print $3}')" idle

log "a host that boots through the network: PXE is set before each power-on"
# A second simulated BMC that runs a chassis-control program (as a real
# BMC's firmware acts on its chassis) instead of a VM: it keeps the power
# state and boot device it is told and logs each request.
BMC2_PORT=$(free_port)
cat >"$E2E_TMP/chassis" <<EOF
#!/bin/sh
echo "\$*" >>"$E2E_TMP/chassis.log"
op=\$1; shift
case \$op in
set) echo "\$2" >"$E2E_TMP/chassis.\$1" ;;
get) for p in "\$@"; do
       case \$p in
       power) echo "power:\$(cat "$E2E_TMP/chassis.power" 2>/dev/null || echo 0)" ;;
       boot) echo "boot:\$(cat "$E2E_TMP/chassis.boot" 2>/dev/null || echo default)" ;;
       esac
     done ;;
esac
exit 0
EOF
chmod 755 "$E2E_TMP/chassis"
sed -e "s/addr 127.0.0.1 $BMC_PORT/addr 127.0.0.1 $BMC2_PORT/" -e '/^  serial /d' -e '/^  startcmd /d' \
  -e "s|^  startnow false|  chassis_control \"$E2E_TMP/chassis\"\n  startnow false|" -e 's/name "vslh1"/name "vslpxe"/' \
  "$E2E_TMP/lan.conf" >"$E2E_TMP/lan2.conf"
mkdir -p "$E2E_TMP/bmc2-state"
ipmi_sim -c "$E2E_TMP/lan2.conf" -f "$E2E_TMP/bmc.emu" -s "$E2E_TMP/bmc2-state" -n >"$E2E_TMP/ipmi_sim2.log" 2>&1 &
SIM2_PID=$!
e2e_on_exit "kill $SIM2_PID"
bmc2() { IPMI_PASSWORD=$good ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$BMC2_PORT" -U vsladmin -E "$@"; }
for ((i = 0; i < 50; i++)); do bmc2 chassis power status >/dev/null 2>&1 && break; sleep 0.2; done
check "h1 moves to that BMC, booting from the network" v host bmc h1 --bmc "127.0.0.1:$BMC2_PORT" \
  --bmc-password-file "$E2E_TMP/good.pw" --bmc-bootdev pxe
check_eq "host show: boot device pxe" "$(v host show h1 --json | jq -r .bmc_bootdev)" pxe
check "apply the farm" v farm apply "$E2E_TMP/one.fml"
check_eq "the BMC was told: boot from PXE, then power on" \
  "$(grep -E '^set ' "$E2E_TMP/chassis.log" | tr '\n' ,)" "set boot pxe,set power 1,"
check "its next boot is from PXE" bash -c "$(declare -f bmc2); BMC2_PORT=$BMC2_PORT good=$good; bmc2 chassis bootparam get 5 | grep -q 'Boot Device Selector : Force PXE'"
check "the BMC says on" bash -c "$(declare -f bmc2); BMC2_PORT=$BMC2_PORT good=$good; bmc2 chassis power status | grep -q 'Chassis Power is on'"
check "destroy the farm" v farm destroy bmcfarm
check "the BMC says off" bash -c "$(declare -f bmc2); BMC2_PORT=$BMC2_PORT good=$good; bmc2 chassis power status | grep -q 'Chassis Power is off'"
check "h1's BMC is cleared" v host bmc h1 --clear
check_eq "host show: no BMC" "$(v host show h1 --json | jq -c '[.bmc_address, .bmc_password_set]')" '["",false]'
v farm apply "$E2E_TMP/one.fml" >"$E2E_TMP/apply.out" 2>&1
check_ne "an apply on a host without a BMC fails" "$?" 0
check "saying how to give it one" grep -q "host 'h1' has no BMC, and the power driver is ipmi; give it one: vsl host bmc h1 --bmc" "$E2E_TMP/apply.out"
check "destroy that farm" v farm destroy bmcfarm

log "the password stays secret"
check_not "not in vsl serve's logs" grep -q -e "$good" -e "$bad" "$E2E_TMP"/serve.*.log
check_not "not in the events" bash -c "'$VSL' events --json 2>/dev/null | grep -q -e '$good' -e '$bad'"
check "serve stops" farm_serve_stop
e2e_finish
