#!/usr/bin/env bash
# The control plane's crash tests on rbd (issue 9): `vsl serve` SIGKILLed at
# crash points of `vsl farm apply` and `vsl farm destroy` (tests/farm/
# crash_lib.sh) while the farm's units live on an rbd array of a throw-away
# Ceph cluster; after a restart on the same data directory one more
# apply/destroy converges: the farm is ready and served (every host reads the
# image at LUN 0, sees exactly its LUNs, writes its disks) or gone (every
# unit free and scrubbed: its RBD image maps no data), and the pool holds no
# image the catalog does not know (no leak) and no scrub leftover.
# The default file array holds only the image's master (1 MiB), so every
# unit of the farm is cut from the rbd array.
#   crash.sh VSL   (CEPH_CRASH_POINTS="APPLY-AT DESTROY-AT;..." to choose)
set -uo pipefail
VSL=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/../api/lib.sh"
source "$HERE/../farm/lib.sh"
source "$HERE/../farm/crash_lib.sh"
source "$HERE/../lib/ceph.sh"
e2e_init 400

ceph_e2e_start
admin_rbd() { ceph_admin_rbd "$@"; }
catalog_init

HOSTS=(h1 h2 h3)
IMG=$E2E_TMP/img.raw
head -c $((1 << 20)) /dev/urandom >"$IMG"
FML=$E2E_TMP/crash.fml
three_server_farm crash "$FML"

# fresh_env: a new data directory with its own rbd array r$ENVS (a new name
# on the same pool: the images of an earlier, dirty one stay out of it).
ENVS=0
fresh_env() {
  ENVS=$((ENVS + 1))
  DATA=$E2E_TMP/data.$ENVS
  ARRAY=r$ENVS
  crash_serve "$DATA" "" --default-capacity 1MiB || fail_now "vsl serve did not start: $(tail -5 "$SERVE_LOG")"
  tv array add "$ARRAY" --driver rbd --pool "$VSL_CEPH_POOL" --ceph-conf "$VSL_CEPH_CONF" --ceph-user "$VSL_CEPH_USER" \
    --keyring "$VSL_CEPH_KEYRING" --capacity 256MiB >/dev/null || fail_now "array add $ARRAY"
  for h in "${HOSTS[@]}"; do add_host "$h" x86-vm || fail_now "host add $h"; done
  v image import img "$IMG" >/dev/null || fail_now "image import"
  crash_serve_stop || fail_now "vsl serve did not stop cleanly"
  log "fresh data directory $DATA, rbd array $ARRAY"
}
serve_up() { crash_serve "$DATA" "$1" || fail_now "vsl serve did not start on $DATA: $(tail -5 "$SERVE_LOG")"; }

# pool_problems: images of the array the catalog does not know (leaked),
# units of the catalog without their image, scrub leftovers.
pool_problems() {
  local known images i
  known=$(tv volume list --all --json | jq -r --arg a "$ARRAY" \
    '.volumes[] | select(.array == $a and (.vanished | not)) | "vsl-\($a)-\(.array_volume)"' | sort)
  images=$(admin_rbd ls 2>/dev/null | grep "^vsl-$ARRAY-" | sort)
  for i in $(comm -13 <(echo "$known") <(echo "$images")); do echo "image $i is unknown to the catalog (leaked)"; done
  for i in $(comm -23 <(echo "$known") <(echo "$images")); do echo "the catalog's $i has no image"; done
}

ready_problems() {
  local left show n h p k out
  left=$(requests_settled 10)
  [[ -z $left ]] || echo "requests still pending: $left"
  show=$(tv farm show crash 2>&1)
  grep -q '^farm crash: ready$' <<<"$show" || echo "farm show: $(head -1 <<<"$show")"
  tv farm plan "$FML" 2>&1 | grep -q 'No changes' || echo "farm plan is not empty"
  n=$(tv volume list --all --json | jq --arg a "$ARRAY" '[.volumes[] | select(.array == $a and .state == "mapped")] | length')
  [[ $n == 7 ]] || echo "$n units on $ARRAY mapped, not 7 (every unit of the farm is on rbd)"
  pool_problems
  for h in "${HOSTS[@]}"; do
    n=$(host_luns "$h")
    [[ $n == "0 1 2" ]] || { echo "host $h sees LUNs [$n], not [0 1 2]"; continue; }
    host_lun_is_image "$h" 0 "$IMG" >/dev/null 2>&1 || echo "host $h does not read the image at LUN 0"
    p=$(pattern "$h")
    k=$((p - 0x41))
    host_qemu_io "$h" 1 "write -P $p 0 64k" >/dev/null 2>&1 || echo "host $h cannot write LUN 1"
    host_qemu_io "$h" 2 "write -P $p $((k * 65536)) 64k" >/dev/null 2>&1 || echo "host $h cannot write LUN 2"
    out=$(host_qemu_io "$h" 1 "read -P $p 0 64k" 2>&1)
    grep -q 'read 65536/65536' <<<"$out" && ! grep -qi 'fail' <<<"$out" || echo "host $h does not read back LUN 1"
  done
}
pattern() {
  local k
  for k in "${!HOSTS[@]}"; do [[ ${HOSTS[$k]} == "$1" ]] && echo $((0x41 + k)); done
}

# master_copies: the volume ids of img's copies on $ARRAY, as a JSON array.
master_copies() {
  tv image show img --json | jq -c --arg a "$ARRAY" '[.masters[] | select(.array == $a and (.primary | not)) | .volume_id]'
}

gone_problems() {
  local out n left i masters keep
  out=$(tv farm show crash 2>&1) && echo "farm show still shows the farm"
  n=$(tv host list --json | jq -r '[.hosts[] | select(.state != "idle") | "\(.name):\(.state)"] | join(" ")')
  [[ -z $n ]] || echo "hosts not idle: $n"
  # The image's master copy on the array (its disks were clones of it)
  # stays: it is the image's, not the farm's.
  masters=$(master_copies)
  n=$(tv volume list --all --json | jq -r --arg a "$ARRAY" --argjson m "$masters" \
    '[.volumes[] | select(.array == $a and (.id | IN($m[]) | not) and (.state != "free" or .clean != true)) | "\(.id):\(.state)"] | join(" ")')
  [[ -z $n ]] || echo "units on $ARRAY not free and clean: $n"
  [[ $(jq length <<<"$masters") == 1 ]] || echo "master copies of img on $ARRAY: $masters, not one"
  pool_problems
  # Scrubbed: no image of the array but the master copy maps data.
  keep=$(tv volume list --all --json | jq -r --arg a "$ARRAY" --argjson m "$masters" \
    '.volumes[] | select(.array == $a and (.id | IN($m[]))) | "vsl-\($a)-\(.array_volume)"')
  for i in $(admin_rbd ls 2>/dev/null | grep "^vsl-$ARRAY-vol-"); do
    [[ $i == "$keep" ]] && continue
    [[ $(admin_rbd diff "$i" --format json 2>/dev/null) == "[]" ]] || echo "image $i still maps data"
  done
  left=$(requests_settled 10)
  [[ -z $left ]] || echo "requests still pending: $left"
}

READY_SAYS="ready and served on rbd, no leaked image"
GONE_SAYS="every unit scrubbed, no leaked image"

fresh_env
log "a clean apply and destroy on rbd"
serve_up ""
check "a clean apply" tv farm apply "$FML"
check_eq "the farm is ready, all on $ARRAY" "" "$(ready_problems)"
check "a clean destroy" tv farm destroy crash
check_eq "everything given back and scrubbed" "" "$(gone_problems)"
# The leak check sees an image behind vsl's back.
admin_rbd create --size 1M "vsl-$ARRAY-vol-0999" >/dev/null 2>&1
check_eq "pool_problems names an image the catalog does not know" \
  "image vsl-$ARRAY-vol-0999 is unknown to the catalog (leaked)" "$(pool_problems)"
admin_rbd rm "vsl-$ARRAY-vol-0999" >/dev/null 2>&1
crash_serve_stop

# Kills after a step and inside the manager's operations (the copy onto an
# RBD image, the scrub that swaps images, the cut of a new image, the map
# that opens it in the gateway).
POINTS=${CEPH_CRASH_POINTS:-"farm.step:2 farm.step:2;farm.step:4 farm.step:6;farm.step:12 farm.step:14;farm.step:30 farm.step:30;\
op.allocate-unit.allocated:4 op.scrub.wiped:5;op.copy.cloned:2 op.scrub.marked:3;op.map.mapped:6 op.unmap.unmapped:4;\
op.bind.granted:5 op.free.step:4;op.map.end:3 op.free.end:2;op.allocate-unit.end:5 op.unbind.revoked:3"}
IFS=';' read -ra PAIRS <<<"$POINTS"
START=$(date +%s)
for pair in "${PAIRS[@]}"; do
  read -r pa pd <<<"$pair"
  iteration "$pa" "$pd"
done
log "${#PAIRS[@]} kill points each of apply and destroy in $(($(date +%s) - START)) s, $ENVS data directories"
e2e_finish
