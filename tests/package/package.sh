#!/usr/bin/env bash
# The Debian package end to end, the way an operator meets it: builds
# vsl_<version>_<arch>.deb with scripts/package.sh from BUILD_DIR, checks
# what it holds, installs it with apt-get, checks the man pages, completion,
# user and data directory, runs the unit's own command line (under systemd
# when systemd is PID 1, else directly as the unit's user with its
# environment) with its ports set in /etc/vsl/vsl.conf, applies a farm
# through the installed /usr/bin/vsl and reads the host's disk over iSCSI,
# reads the JSON log, stops it with SIGTERM (the session ended, a clean exit),
# starts it again (the farm still served), then purges the package and
# checks nothing of it is left. The package is purged on failure too.
#   package.sh BUILD_DIR
# Needs root (apt-get, dpkg) on a machine where vsl is not installed.
set -uo pipefail
BUILD=$(realpath "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/lib/common.sh"
e2e_init 300

[[ $(id -u) == 0 ]] || fail_now "package.sh installs a package: run it as root"
if dpkg-query -W -f='${Status}' vsl 2>/dev/null | grep -q installed; then
  fail_now "a vsl package is installed already; this test would remove it"
fi
[[ -e /var/lib/vsl || -e /etc/vsl ]] && fail_now "/var/lib/vsl or /etc/vsl exists; this test would remove it"
getent passwd vsl >/dev/null && fail_now "a vsl user exists already; this test would remove it"

log "build the package"
out=$E2E_TMP/out
"$ROOT/scripts/package.sh" "$BUILD" "$out" >"$E2E_TMP/package.log" 2>&1 ||
  fail_now "scripts/package.sh failed: $(tail -20 "$E2E_TMP/package.log")"
deb=$(tail -1 "$E2E_TMP/package.log")
version=$("$BUILD/vsl" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
check_eq "the package is vsl_<version>_<arch>.deb" "vsl_${version}_${arch}.deb" "$(basename "$deb")"
[[ -f $deb ]] || fail_now "no package at $deb"

log "what the package holds"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$E2E_TMP/files"
for f in /usr/bin/vsl /usr/share/man/man1/vsl.1.gz /usr/share/man/man1/vsl-serve.1.gz \
  /usr/share/man/man1/vsl-farm.1.gz /usr/share/bash-completion/completions/vsl \
  /usr/share/doc/vsl/examples/two-tier.fml /usr/share/doc/vsl/service.md /lib/systemd/system/vsl.service \
  /etc/vsl/vsl.conf; do
  check "holds $f" grep -qx "$f" "$E2E_TMP/files"
done
check_not "holds nothing under /usr/local" grep -q '^/usr/local' "$E2E_TMP/files"
check_not "holds nothing of the build tree" grep -q "$BUILD" "$E2E_TMP/files"
dpkg-deb -I "$deb" >"$E2E_TMP/control"
check "runtime dependencies computed: libssl3" grep -qE '^ Depends:.*libssl3' "$E2E_TMP/control"
check "runtime dependencies computed: libsqlite3-0" grep -qE '^ Depends:.*libsqlite3-0' "$E2E_TMP/control"
for s in postinst prerm postrm conffiles; do
  check "control holds $s" grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\*? *$s" "$E2E_TMP/control"
done
check_eq "the conffile is /etc/vsl/vsl.conf" "/etc/vsl/vsl.conf" "$(dpkg-deb --info "$deb" conffiles)"
check_not "the binary is stripped" bash -c "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./usr/bin/vsl | file - | grep -q 'not stripped'"

# From here the package may be on the machine: take it off at exit, whatever happens.
e2e_on_exit "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq vsl"

log "install it"
export DEBIAN_FRONTEND=noninteractive
check "apt-get install ./vsl_*.deb" apt-get install -y -qq "$deb"
check "dpkg says installed" bash -c "dpkg-query -W -f='\${Status}' vsl | grep -q 'install ok installed'"
check_eq "/usr/bin/vsl runs" "vsl $version" "$(/usr/bin/vsl --version)"
check "the vsl user exists, a system user without a shell" \
  bash -c "getent passwd vsl | awk -F: '\$3 < 1000 && \$7 ~ /nologin/' | grep -q ."
check_eq "/var/lib/vsl: vsl's, 0700" "vsl vsl 700" "$(stat -c '%U %G %a' /var/lib/vsl)"
check "nothing was started" bash -c "! pgrep -u vsl -x vsl"
check "dpkg knows the conffile" bash -c "dpkg-query -W -f='\${Conffiles}' vsl | grep -q '/etc/vsl/vsl.conf'"

log "man pages and completion"
for c in "" $(/usr/bin/vsl completion commands | grep -v ' '); do
  page=vsl${c:+-$c}
  check "man page $page(1)" bash -c "zcat /usr/share/man/man1/$page.1.gz | grep -q '^\.TH ${page^^} \"1\"'"
done
check "man -w finds vsl-serve" bash -c "man -w vsl-serve | grep -q /usr/share/man/man1/vsl-serve.1.gz"
check "vsl-serve(1) documents --config" bash -c "zcat /usr/share/man/man1/vsl-serve.1.gz | grep -q 'config'"
complete_words() {  # complete_words WORD...: what completion offers for the last word
  bash -c 'source /usr/share/bash-completion/completions/vsl
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vsl; echo "${COMPREPLY[*]}"' _ "$@"
}
check_eq "completion: vsl fa<TAB>" "farm" "$(complete_words vsl fa)"
check_eq "completion: vsl farm ap<TAB>" "apply" "$(complete_words vsl farm ap)"
check_eq "completion: vsl serve --log-f<TAB>" "--log-format" "$(complete_words vsl serve --log-f)"
check_eq "completion: a file after vsl serve --config" "" "$(complete_words vsl serve --config /et)"

log "the unit"
unit=/lib/systemd/system/vsl.service
for line in ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes ProtectHome=yes ReadWritePaths=/var/lib/vsl \
  Restart=on-failure User=vsl CapabilityBoundingSet=; do
  check "unit: $line" grep -qx "$line" "$unit"
done
if command -v systemd-analyze >/dev/null; then
  check "systemd-analyze verify: no finding" bash -c "out=\$(systemd-analyze verify '$unit' 2>&1); rc=\$?; \
    echo \"\$out\"; [[ \$rc == 0 && -z \$out ]]"
fi
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
check_eq "ExecStart runs the installed binary on /var/lib/vsl" "/usr/bin/vsl serve --data /var/lib/vsl" \
  "$(awk '{print $1, $2, $3, $4}' <<<"$exec_start")"

# Shipped settings are all commented out and name real flags with their defaults.
check_not "vsl.conf sets nothing as shipped" grep -qE '^[a-z]' /etc/vsl/vsl.conf
/usr/bin/vsl serve --help >"$E2E_TMP/serve.help"
while read -r key value; do
  value=${value//\"/}
  check "vsl.conf's $key is a flag of vsl serve" grep -qE -- "--$key( |$)" "$E2E_TMP/serve.help"
  default=$(grep -oE -- "--$key [A-Z:]+[^= ]*( in \[[^]]*\])?=[^ ]+" "$E2E_TMP/serve.help" | head -1 | sed 's/.*=//')
  [[ -n $default ]] && check_eq "vsl.conf's $key shows the default" "$default" "$value"
done < <(sed -nE 's/^# ([a-z-]+) = (.*)$/\1 \2/p' /etc/vsl/vsl.conf | grep -vE '^(catalog|import-dir|metrics-token-file) ')

log "run the unit's command line"
API_PORT=$(free_port)
ISCSI_PORT=$(free_port)
printf 'api = "127.0.0.1:%s"\niscsi = "127.0.0.1:%s"\n' "$API_PORT" "$ISCSI_PORT" >>/etc/vsl/vsl.conf
SERVE_LOG=$E2E_TMP/serve.log
if [[ -d /run/systemd/system && $(ps -p 1 -o comm=) == systemd ]]; then
  under=systemd
  since=$(date '+%Y-%m-%d %H:%M:%S')
  check "systemctl start vsl" systemctl start vsl
  e2e_on_exit "systemctl stop vsl"
  serve_pid() { systemctl show -p MainPID --value vsl; }
  collect_log() { journalctl -u vsl --since "$since" -o cat >"$SERVE_LOG"; }
else
  under=direct
  # As systemd would: the unit's user and groups, its environment, no new
  # privileges, no capabilities, umask 0077, from /.
  env_args=()
  while read -r kv; do env_args+=("$kv"); done < <(sed -n 's/^Environment=//p' "$unit" | tr ' ' '\n' | tr -d '"')
  # shellcheck disable=SC2086
  (cd / && umask 0077 && exec setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs \
    --inh-caps=-all --bounding-set=-all -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/vsl \
    "${env_args[@]}" $exec_start) >"$SERVE_LOG" 2>&1 &
  SERVE_PID=$!
  e2e_on_exit "stop_pid $SERVE_PID 10"
  serve_pid() { echo "$SERVE_PID"; }
  collect_log() { :; }
fi
log "started ($under)"
wait_port "$API_PORT" 30 "$(serve_pid)" || { collect_log; fail_now "vsl serve did not start: $(tail -20 "$SERVE_LOG")"; }
check_eq "it runs as $user" "$user" "$(ps -o user= -p "$(serve_pid)")"
check "it has no capabilities" bash -c "grep -q '^CapEff:.*0000000000000000' /proc/$(serve_pid)/status"

log "a farm through the installed vsl"
export VSL_API=http://127.0.0.1:$API_PORT VSL_DATA=/var/lib/vsl
python3 -c 'import sys; sys.stdout.buffer.write(b"\x5a" * 4096 + b"\0" * (1 << 20))' >"$E2E_TMP/img.raw"
check "import an image" /usr/bin/vsl image import demo "$E2E_TMP/img.raw"
check "add a host" /usr/bin/vsl host add h1 --hw x86-vm --initiator iqn.2026-11.org.example:h1 \
  --chap-secret secret-of-h1-0123
cat >"$E2E_TMP/pkg.fml" <<'EOF'
<?xml version="1.0"?>
<farm fmlversion="1.2">
  <tier id="1" name="web">
    <role>web</role>
    <min-servers>1</min-servers>
    <max-servers>1</max-servers>
    <init-servers>1</init-servers>
  </tier>
  <server-role id="web" name="Web server">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="scsi" drivesize="16MB">
      <diskimage type="system">demo</diskimage>
    </disk>
  </server-role>
</farm>
EOF
check "farm apply" /usr/bin/vsl farm apply "$E2E_TMP/pkg.fml" --name pkg
check "farm show: LUN 0 mapped" bash -c "/usr/bin/vsl farm show pkg | grep -q 'LUN 0: .*mapped'"
lun() {  # lun QEMU-IO-CMD...: on h1's LUN 0, as h1
  qemu-io --object "secret,id=s0,data=secret-of-h1-0123" --image-opts \
    "driver=iscsi,transport=tcp,portal=127.0.0.1:$ISCSI_PORT,target=iqn.2026-11.org.vsl:h1,lun=0,initiator-name=iqn.2026-11.org.example:h1,user=h1,password-secret=s0" \
    "$@"
}
check "h1 reads its image over iSCSI" lun -c "read -P 0x5a 0 4k"

log "the log, JSON lines"
collect_log
check "every line is one JSON object with time, level, component, message" python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert isinstance(o, dict), line
    for k in ("time", "level", "component", "message"):
        assert k in o, (k, line)
    n += 1
assert n >= 4, n
' "$SERVE_LOG"
check "serve says where the API is, as a field" python3 -c '
import json, sys
assert any(o.get("component") == "serve" and o.get("address") == sys.argv[2]
           for o in map(json.loads, open(sys.argv[1])))' "$SERVE_LOG" "http://127.0.0.1:$API_PORT"
check "the gateway logs h1's login" bash -c "grep '\"component\":\"gateway\"' '$SERVE_LOG' | grep -q 'iqn.2026-11.org.example:h1'"
check_not "the admin token is not in the log" grep -qF "$(cat /var/lib/vsl/admin.token)" "$SERVE_LOG"

log "SIGTERM with a host logged in"
logins() { collect_log; grep -c 'login of iqn.2026-11.org.example:h1 ' "$SERVE_LOG"; }
before=$(logins)
lun -c "read 0 512" -c "sleep 30000" >"$E2E_TMP/session.log" 2>&1 &
session=$!
e2e_on_exit "kill $session"
for ((i = 0; i < 100; i++)); do
  (($(logins) > before)) && break
  sleep 0.1
done
check "h1 is logged in" test "$(logins)" -gt "$before"
# Requests queued just before the stop (8 clients at once, faster than two
# workers run them): whatever did not run stays queued.
requests() {  # requests STATE: how many allocate-unit requests are in STATE
  python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:/var/lib/vsl/catalog.db?mode=ro", uri=True)
print(db.execute("SELECT count(*) FROM requests WHERE op = ? AND state = ?", ("allocate-unit", sys.argv[1])).fetchone()[0])' "$1"
}
n=$(($(requests done) + 200))
token=$(cat /var/lib/vsl/admin.token)
seq 200 | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $token" -X POST \
  -d '{"size": 16777216}' "$VSL_API/v1/disks/allocate-unit" >"$E2E_TMP/submitted"
check_eq "200 requests queued (202 each)" 200 "$(grep -c '^202$' "$E2E_TMP/submitted")"
pid=$(serve_pid)
if [[ $under == systemd ]]; then
  check "systemctl stop vsl" systemctl stop vsl
  check_eq "the unit ended cleanly" "success" "$(systemctl show -p Result --value vsl)"
else
  kill -TERM "$pid"
  rc=0
  for ((i = 0; i < 300; i++)); do alive "$pid" || break; sleep 0.1; done
  wait "$pid" || rc=$?
  check_eq "vsl serve exits 0 on SIGTERM" 0 "$rc"
fi
collect_log
check "it said it stopped" python3 -c '
import json, sys
msgs = [json.loads(l).get("message") for l in open(sys.argv[1])]
assert "SIGTERM, stopping" in msgs and msgs[-1] == "stopped", msgs[-5:]' "$SERVE_LOG"
check "h1's session was ended by the stop" grep -q 'gateway stopping' "$SERVE_LOG"
kill "$session" 2>/dev/null
wait "$session" 2>/dev/null
# The catalog as the stop left it: none running (each worker finished its
# request), none failed; the rest queued for the next start.
check_eq "no request left running by the stop" 0 "$(requests running)"
check_eq "no request failed by the stop" 0 "$(requests failed)"
queued=$(requests queued)
check_eq "every request is done or queued" "$n" "$(($(requests done) + queued))"
log "$queued of 200 requests were still queued at the stop"

log "start again: the farm is served from the catalog"
if [[ $under == systemd ]]; then
  check "systemctl start vsl" systemctl start vsl
else
  # shellcheck disable=SC2086
  (cd / && umask 0077 && exec setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs \
    --inh-caps=-all --bounding-set=-all -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/vsl \
    "${env_args[@]}" $exec_start) >"$SERVE_LOG.2" 2>&1 &
  SERVE_PID=$!
  e2e_on_exit "stop_pid $SERVE_PID 10"
fi
wait_port "$ISCSI_PORT" 30 "$(serve_pid)" || fail_now "vsl serve did not start again"
[[ $under == systemd ]] && journalctl -u vsl -o cat -n 50 >"$SERVE_LOG.2"
check_not "the stop was clean: no dead process's requests to take over" grep -q 'earlier process' "$SERVE_LOG.2"
check "h1 still reads its image" lun -c "read -P 0x5a 0 4k"
for ((i = 0; i < 600; i++)); do [[ $(requests done) == "$n" ]] && break; sleep 0.1; done
check_eq "the next start ran what was queued" "$n" "$(requests done)"
check "the farm's requests all ran (none left failed)" bash -c \
  "! /usr/bin/vsl queue list | grep -qi failed"
if [[ $under == systemd ]]; then systemctl stop vsl; else stop_pid "$SERVE_PID" 30; fi

log "purge"
check "apt-get purge vsl" apt-get purge -y -qq vsl
check_not "dpkg knows no vsl" bash -c "dpkg-query -W -f='\${Status}' vsl 2>/dev/null | grep -q installed"
for f in $(grep -v '/$' "$E2E_TMP/files") /var/lib/vsl /etc/vsl; do
  check_not "gone: $f" test -e "$f"
done
check_not "the vsl user is gone" getent passwd vsl
check_not "no installed vsl runs" pgrep -f '^/usr/bin/vsl '


e2e_finish
