#!/usr/bin/env bash
# Each of make-meta, copy, bind and map fails once (a fault-injecting array,
# or the gateway's map, armed through the test-only POST /v1/test/faults of
# `vsl serve --test-faults`). Each time the unit ends in the seed's state for
# that failure (claims 12, 13, 19, 20: Unconfigured, Unconfigured,
# Unconfigured, Unbound with its bindings removed), nothing is leaked (no
# meta row, no binding, every volume back to free after `disk free`), and
# the retry succeeds. Usage: faults.sh VSL   (API_CATALOG=sqlite|pg)
set -uo pipefail
VSL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/common.sh"
source "$HERE/lib.sh"
e2e_init 300
catalog_init
serve_start "$E2E_TMP/data"

head -c $((1 << 20)) /dev/urandom >"$E2E_TMP/img.raw"
check "fault array f1 added" v array add f1 --driver fault:file --path "$E2E_TMP/f1" --capacity 8MiB \
  --volume-size 4MiB --quality tier=f
check "host hf added" v host add hf --hw std --initiator iqn.2026-11.org.test:hf
check "image imported" v image import img "$E2E_TMP/img.raw"

arm() { ajson POST /v1/test/faults "$1" >/dev/null; }
free_count() { ajson GET "/v1/volumes?array=f1&state=free" | jq '.volumes | length'; }
meta_count() { ajson GET "/v1/volumes?type=meta" | jq '.volumes | length'; }
host_bindings() { ajson GET /v1/hosts/hf | jq '.bindings | length'; }
alloc() { v disk allocate --size "$1" --quality tier=f --json | jq -r '.result.volumes | join(" ")'; }

# leak_check WHAT UNIT...: after the failure, `disk free` returns everything.
leak_check() {
  local what=$1 id
  shift
  check_eq "$what: no binding left for hf" 0 "$(host_bindings)"
  check_eq "$what: f1 grants the gateway nothing" 0 "$(jq '[(.grants // {})[][]] | length' "$E2E_TMP/f1/array.json")"
  for id in "$@"; do check "$what: free unit $id" v disk free "$id"; done
  check_eq "$what: both volumes of f1 are free again" 2 "$(free_count)"
  check_eq "$what: no meta volume left" 0 "$(meta_count)"
}

log "make-meta fails (the array cannot confirm a member)"
V=$(alloc 8MiB)
arm '{"array":"f1","op":"stat","nth":1}'
check_fails "configure fails" v disk configure $V
for id in $V; do check_eq "member $id is unconfigured" unconfigured "$(vol_state "$id")"; done
check_eq "no meta volume was made" 0 "$(meta_count)"
leak_check make-meta $V
V=$(alloc 8MiB)
M=$(v disk configure $V --json | jq -r .result.volume)
check_eq "retry: configured" configured "$(vol_state "$M")"
check "free it" v disk free "$M"

log "copy fails"
V=$(alloc 4MiB)
U=$(v disk configure $V --json | jq -r .result.volume)
arm '{"array":"f1","op":"copy","nth":1}'
check_fails "copy fails" v disk copy "$U" --image img
check_eq "the unit is unconfigured" unconfigured "$(vol_state "$U")"
leak_check copy "$U"
V=$(alloc 4MiB)
U=$(v disk configure $V --json | jq -r .result.volume)
check "retry: copy succeeds" v disk copy "$U" --image img
check "free it" v disk free "$U"

log "bind fails (the array refuses the grant)"
V=$(alloc 4MiB)
U=$(v disk configure $V --json | jq -r .result.volume)
arm '{"array":"f1","op":"grant","nth":1}'
check_fails "bind fails" v disk bind "$U" --host hf --lun 0
check_eq "the unit is unconfigured" unconfigured "$(vol_state "$U")"
leak_check bind "$U"
V=$(alloc 4MiB)
U=$(v disk configure $V --json | jq -r .result.volume)
check "retry: bind succeeds" v disk bind "$U" --host hf --lun 0
check "unbind" v disk unbind "$U"
check "free it" v disk free "$U"

log "map fails (the gateway refuses)"
V=$(alloc 4MiB)
U=$(v disk configure $V --json | jq -r .result.volume)
check "bind" v disk bind "$U" --host hf --lun 0
arm '{"op":"gateway-map","nth":1}'
check_fails "map fails" v disk map "$U"
check_eq "the unit is unbound" unbound "$(vol_state "$U")"
check_eq "its bindings were removed" 0 "$(ajson GET "/v1/volumes/$U" | jq '.bindings | length')"
leak_check map "$U"
V=$(alloc 4MiB)
U=$(v disk configure $V --json | jq -r .result.volume)
check "retry: bind" v disk bind "$U" --host hf --lun 0
check "retry: map succeeds" v disk map "$U"
check_eq "the unit is mapped" mapped "$(vol_state "$U")"
check_eq "and f1 grants the gateway its volume" 1 "$(jq '[(.grants // {})[][]] | length' "$E2E_TMP/f1/array.json")"

check "the failed requests say why" bash -c "'$VSL' queue list --state failed | grep -q 'injected fault'"
check_eq "four requests failed, no more" 4 "$(ajson GET '/v1/requests?state=failed' | jq '.requests | length')"
check "vsl serve stops cleanly" serve_stop
e2e_finish
