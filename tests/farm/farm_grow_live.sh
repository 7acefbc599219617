#!/usr/bin/env bash
# A disk grows under hosts that stay logged in (power `none`, no QEMU): each
# session watching a grown disk gets CAPACITY DATA HAS CHANGED (UNIT
# ATTENTION, 2A/09) on its first command and once only, then reads the new
# capacity, finds its data where it left it and writes the new last block; a
# session watching a disk that kept its size gets no unit attention.
#   farm_grow_live.sh VSL
set -uo pipefail
VSL=$(realpath "$1")
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/lib.sh"
e2e_init 240

# watch_tool: iscsi_watch from the build, else built here.
watch_tool() {
  if [[ -n "${VSL_E2E_WATCH:-}" && -x "$VSL_E2E_WATCH" ]]; then
    echo "$VSL_E2E_WATCH"
    return
  fi
  gcc -O1 -o "$E2E_TMP/iscsi_watch" "$ROOT/tests/tools/iscsi_watch.c" -liscsi >&2 ||
    fail_now "cannot build tests/tools/iscsi_watch.c"
  echo "$E2E_TMP/iscsi_watch"
}
WATCH=$(watch_tool)

data=$E2E_TMP/data
farm_serve "$data" --power none
add_host g1 x86-vm
add_host g2 x86-vm

# farm_file BOOT_MB GLOBAL_MB: the farm with those sizes; target 2 keeps 4MB.
farm_file() {
  mkdir -p "$E2E_TMP/$1-$2"
  cat >"$E2E_TMP/$1-$2/growlive.fml" <<EOF
<?xml version="1.0"?>
<farm fmlversion="1.2" name="growlive">
  <tier id="1" name="app">
    <role>app</role>
    <min-servers>2</min-servers>
    <max-servers>2</max-servers>
    <init-servers>2</init-servers>
  </tier>
  <farm-global-disks>
    <global-disk global-name="shared" drivesize="$2MB" />
  </farm-global-disks>
  <server-role id="app" name="App server">
    <hw>x86-vm</hw>
    <disk target="0" drivetype="scsi" drivesize="$1MB" />
    <disk target="2" drivetype="scsi" drivesize="4MB" />
    <shared-disk global-name="shared" target="1" drivetype="scsi" />
  </server-role>
</farm>
EOF
  echo "$E2E_TMP/$1-$2/growlive.fml"
}

small=$(farm_file 16 8)
big=$(farm_file 32 24)
check "apply the small farm" v farm apply "$small"
check "the farm is ready" bash -c "'$VSL' farm show growlive | grep -q '^farm growlive: ready'"

# The watchers: NAME HOST LUN FIRST-LBA MB-BEFORE MB-AFTER. Both hosts write
# their patterns to the shared disk, at different blocks.
WATCHERS=(
  "g1-boot g1 0 0 16 32"
  "g1-shared g1 1 0 8 24"
  "g2-shared g2 1 64 8 24"
  "g2-steady g2 2 0 4 4"
)
declare -A WPID WIN WOUT RUNNING
# Only watchers not yet waited for are killed (a reaped pid may be reused).
# shellcheck disable=SC2016
e2e_on_exit 'for p in "${RUNNING[@]}"; do kill -9 "$p"; done'
for w in "${WATCHERS[@]}"; do
  read -r name host lun first _ <<<"$w"
  mkfifo "$E2E_TMP/$name.in"
  "$WATCH" "iqn.2026-11.org.example:$host" \
    "iscsi://$host%secret-of-$host-0123@$PORTAL/iqn.2026-11.org.vsl:$host/$lun" "$first" \
    <"$E2E_TMP/$name.in" >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" &
  WPID[$name]=$!
  RUNNING[$name]=$!
  # Held open by the script: the watcher sees EOF only if the script dies.
  exec {fd}>"$E2E_TMP/$name.in"
  WIN[$name]=$fd
  WOUT[$name]=$E2E_TMP/$name.out
done

# capacity_of NAME N: "BLOCKS BLOCK_SIZE" of the Nth capacity line NAME printed.
capacity_of() {
  sed -n 's/^capacity blocks=\([0-9]*\) block_size=\([0-9]*\)$/\1 \2/p' "${WOUT[$1]}" | sed -n "$2p"
}

for w in "${WATCHERS[@]}"; do
  read -r name _ _ _ before _ <<<"$w"
  if ! wait_for_file_line "${WOUT[$name]}" '^ready$' 30 "${WPID[$name]}"; then
    fail_now "watcher $name did not get ready: $(cat "$E2E_TMP/$name.err")"
  fi
  read -r blocks bs < <(capacity_of "$name" 1)
  check_eq "$name logged in to a ${before}MB disk" "$((before << 20))" "$((blocks * bs))"
done

log "grow the boot disk 16MB->32MB and the shared disk 8MB->24MB under the watchers"
check "plan shows the growth" bash -c "'$VSL' farm plan '$big' | grep -q '0 to add, 3 to change, 0 to remove'"
check "apply the bigger farm" v farm apply "$big"
check "a second apply changes nothing" bash -c "'$VSL' farm apply '$big' | grep -q 'No changes'"
for w in "${WATCHERS[@]}"; do
  read -r name _ _ _ _ _ <<<"$w"
  check "watcher $name is still logged in" alive "${WPID[$name]}"
done

# One watcher at a time: the two on the shared disk write its last block.
for w in "${WATCHERS[@]}"; do
  read -r name _ _ _ before after <<<"$w"
  log "watcher $name (${before}MB -> ${after}MB)"
  echo go >&"${WIN[$name]}"
  wait "${WPID[$name]}"
  rc=$?
  unset "RUNNING[$name]"
  check_eq "$name finished in the same session" 0 "$rc"
  [[ $rc -eq 0 ]] || sed 's/^/      | /' "$E2E_TMP/$name.err"
  tur=$(grep '^tur ' "${WOUT[$name]}")
  if ((after > before)); then
    check_eq "$name: first command gets CAPACITY DATA HAS CHANGED" \
      "tur status=2 sense key=6 asc=2a ascq=09" "$(sed -n 1p <<<"$tur")"
  else
    check_eq "$name: no unit attention on a disk that kept its size" "tur good" "$(sed -n 1p <<<"$tur")"
  fi
  check_eq "$name: the second TEST UNIT READY is good" "tur good" "$(sed -n 2p <<<"$tur")"
  read -r blocks bs < <(capacity_of "$name" 2)
  check_eq "$name: READ CAPACITY shows ${after}MB" "$((after << 20))" "$((blocks * bs))"
  check "$name: data intact" grep -qx 'data intact' "${WOUT[$name]}"
  check "$name: wrote the last block" grep -qx "wrote last lba $((blocks - 1))" "${WOUT[$name]}"
done

check "destroy growlive" v farm destroy growlive
check "serve stops" farm_serve_stop
e2e_finish
