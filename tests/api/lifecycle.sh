#!/usr/bin/env bash
# The whole life of a disk unit through the real binary: a host added, a
# volume allocated and concatenated from two volumes on two arrays, an image
# copied, bound and mapped; qemu-img reads the image through the gateway at
# LUN 0 with the host's initiator name and CHAP secret; then unmap, unbind,
# scrub (reads back zero), free; the same volumes given to another host read
# only zeros, also when the unit grows while mapped and after a restart (the gateway reloads its maps from the
# catalog). Usage: lifecycle.sh VSL   (API_CATALOG=sqlite|pg)
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 300
catalog_init
serve_start "$E2E_TMP/data"

IMG=$E2E_TMP/image.raw
python3 - "$IMG" <<'PY'
import sys
# 6 MiB: each 512-byte block holds its number and a marker, so a misplaced
# or missing block shows.
with open(sys.argv[1], "wb") as f:
    for b in range(6 * 2048):
        f.write((b"vsl-block-%08d;" % b) * 26 + b"\0" * (512 - 19 * 26 - 4) + b"end\n")
PY
MiB=$((1 << 20))
[[ $(stat -c %s "$IMG") == $((6 * MiB)) ]] || fail_now "the test image is not 6 MiB"

# qread HOST SECRET LUN OUT: reads the whole LUN with qemu-img.
qread() {
  local opts="driver=iscsi,transport=tcp,portal=$PORTAL,target=iqn.2026-11.org.vsl:$1,lun=$3,initiator-name=iqn.2026-11.org.test:$1,user=$1,password-secret=sec0"
  timeout 60 qemu-img convert --object "secret,id=sec0,data=$2" --image-opts "$opts" -O raw "$4"
}

log "arrays, host, image"
check "array a1 added" v array add a1 --path "$E2E_TMP/a1" --capacity 4MiB --volume-size 4MiB --quality tier=cat
check "array a2 added" v array add a2 --path "$E2E_TMP/a2" --capacity 4MiB --volume-size 4MiB --quality tier=cat
check "array list shows a1, a2 and default" bash -c "'$VSL' array list | grep -c -E '^(a1|a2|default) ' | grep -qx 3"
v host add h1 --hw std --initiator iqn.2026-11.org.test:h1 --json >"$E2E_TMP/h1.json"
check "host h1 added" test -s "$E2E_TMP/h1.json"
S1=$(jq -r .chap_secret "$E2E_TMP/h1.json")
check "CHAP secret is 32 hex characters (16 CSPRNG bytes)" grep -qE '^[0-9a-f]{32}$' <<<"$S1"
check_not "host show does not reveal the secret" bash -c "'$VSL' host show h1 --json | grep -q '$S1'"
check "image imported" v image import boot "$IMG"
SHA=$(sha256sum "$IMG" | cut -d' ' -f1)
check "image list shows its SHA-256" bash -c "'$VSL' image list | grep -q $SHA"

log "allocate 8 MiB: two 4 MiB volumes on two arrays, concatenated"
V=$(v disk allocate --size 8MiB --quality tier=cat --json | jq -r '.result.volumes | join(" ")')
check_eq "two volumes allocated" 2 "$(wc -w <<<"$V")"
M=$(v disk configure $V --json | jq -r .result.volume)
ajson GET "/v1/volumes/$M" >"$E2E_TMP/m.json"
check_eq "the unit is a configured meta volume" "meta configured" "$(jq -r '.type + " " + .state' "$E2E_TMP/m.json")"
check_eq "its members are on two arrays" 2 "$(jq '[.members[].array_id] | unique | length' "$E2E_TMP/m.json")"
check_eq "the unit is 8 MiB" $((8 * MiB)) "$(jq .size "$E2E_TMP/m.json")"

log "copy, bind, map; qemu-img reads the image at LUN 0"
check "copy the image" v disk copy "$M" --image boot
check "bind to h1 at LUN 0" v disk bind "$M" --host h1 --lun 0
check "map" v disk map "$M"
check_eq "the unit is mapped" mapped "$(vol_state "$M")"
check_eq "GET /v1/bindings: h1 has the unit at LUN 0, mapped" "$M 0 true" \
  "$(ajson GET '/v1/bindings?host=h1' | jq -r '.bindings[] | "\(.volume_id) \(.lun) \(.mapped)"')"
check "qemu-img reads LUN 0 of h1" qread h1 "$S1" 0 "$E2E_TMP/read1.raw"
check_eq "LUN 0 is 8 MiB" $((8 * MiB)) "$(stat -c %s "$E2E_TMP/read1.raw")"
check "the first 6 MiB are the image" cmp -n $((6 * MiB)) "$IMG" "$E2E_TMP/read1.raw"
check "the rest reads zero" cmp -n $((2 * MiB)) -i $((6 * MiB)):0 "$E2E_TMP/read1.raw" /dev/zero
check_fails "a wrong CHAP secret is refused" qread h1 wrong-secret-0123 0 "$E2E_TMP/bad.raw"

log "unmap, unbind, scrub, free"
check "unmap" v disk unmap "$M"
check_fails "qemu-img no longer reads LUN 0" qread h1 "$S1" 0 "$E2E_TMP/gone.raw"
check "unbind" v disk unbind "$M"
check "scrub" v disk scrub "$M"
check_eq "the unit is unbound again" unbound "$(vol_state "$M")"
check_eq "and clean" true "$(ajson GET "/v1/volumes/$M" | jq .clean)"
for f in $(find "$E2E_TMP/a1" "$E2E_TMP/a2" -type f -size +1M); do
  check "array file $(basename "$f") reads back zero" cmp -n "$(stat -c %s "$f")" "$f" /dev/zero
done
check "free" v disk free "$M"
for id in $V; do check_eq "member $id is free" free "$(vol_state "$id")"; done
check_eq "the meta volume row is gone" 404 "$(api GET "/v1/volumes/$M" | tail -1)"

log "the same volumes for another host read only zeros"
S2=$(v host add h2 --hw std --initiator iqn.2026-11.org.test:h2 --json | jq -r .chap_secret)
V2=$(v disk allocate --size 8MiB --quality tier=cat --json | jq -r '.result.volumes | join(" ")')
check_eq "the same two volumes are reallocated" "$(tr ' ' '\n' <<<"$V" | sort | xargs)" "$(tr ' ' '\n' <<<"$V2" | sort | xargs)"
M2=$(v disk configure $V2 --json | jq -r .result.volume)
check "bind to h2" v disk bind "$M2" --host h2 --lun 0
check "map to h2" v disk map "$M2"
check "qemu-img reads LUN 0 of h2" qread h2 "$S2" 0 "$E2E_TMP/read2.raw"
check "h2 sees only zeros" cmp -n $((8 * MiB)) "$E2E_TMP/read2.raw" /dev/zero
check_fails "h1 has no LUN 0 any more" qread h1 "$S1" 0 "$E2E_TMP/h1again.raw"

log "grow the mapped unit in place: a third volume concatenated"
check "array a3 added" v array add a3 --path "$E2E_TMP/a3" --capacity 4MiB --volume-size 4MiB --quality tier=cat
check_fails "a volume of another quality is not taken" v disk grow "$M2" --size 12MiB --quality tier=dog
check "grow to 12 MiB" v disk grow "$M2" --size 12MiB --quality tier=cat
ajson GET "/v1/volumes/$M2" >"$E2E_TMP/m2.json"
check_eq "the unit is 12 MiB, still mapped" "$((12 * MiB)) mapped" "$(jq -r '"\(.size) \(.state)"' "$E2E_TMP/m2.json")"
check_eq "with three members on three arrays" 3 "$(jq '[.members[].array_id] | unique | length' "$E2E_TMP/m2.json")"
check "qemu-img reads the grown LUN 0 of h2" qread h2 "$S2" 0 "$E2E_TMP/read2g.raw"
check_eq "LUN 0 is 12 MiB now" $((12 * MiB)) "$(stat -c %s "$E2E_TMP/read2g.raw")"
check "all zeros" cmp -n $((12 * MiB)) "$E2E_TMP/read2g.raw" /dev/zero
check "growing to less changes nothing" bash -c "'$VSL' disk grow $M2 --size 4MiB | grep -q 'is 12.0MiB'"

log "restart: the gateway serves what the catalog says"
check "vsl serve stops cleanly on SIGTERM" serve_stop
serve_start "$E2E_TMP/data"
check "qemu-img reads LUN 0 of h2 after the restart" qread h2 "$S2" 0 "$E2E_TMP/read3.raw"
check_eq "still 12 MiB" $((12 * MiB)) "$(stat -c %s "$E2E_TMP/read3.raw")"
check "still zeros" cmp -n $((12 * MiB)) "$E2E_TMP/read3.raw" /dev/zero
check "events record the unit's transitions" bash -c "'$VSL' events --entity volume --id $M2 | grep -q map"
check_eq "every request finished done but the grow asking for tier=dog" "grow failed" \
  "$(v queue list --json | jq -r '.requests[] | select(.state != "done") | "\(.op) \(.state)"')"
check "vsl serve stops cleanly again" serve_stop
e2e_finish
