# shellcheck shell=bash
# The writing host of the migration tests (tests/api/migrate.sh,
# tests/ceph/migrate.sh): tests/tools/iscsi_migrate_host.c in one libiscsi
# session. The caller runs migrate_host_build and sets INI, BLOCKS, STATE
# and a host_url function; E2E_TMP is tests/lib/common.sh's.

_MIGRATE_HOST_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)
# migrate_host_build: compiles the host tool to $HOSTTOOL (and wants qemu-img,
# which the tests' content checks use).
migrate_host_build() {
  HOSTTOOL=$E2E_TMP/iscsi_migrate_host
  gcc -O1 -o "$HOSTTOOL" "$_MIGRATE_HOST_TOOLS/iscsi_migrate_host.c" -liscsi ||
    fail_now "cannot build tests/tools/iscsi_migrate_host.c"
  command -v qemu-img >/dev/null || fail_now "qemu-img is not installed (scripts/deps.sh)"
}

# members_of UNIT: the meta unit's member volume ids; unit_arrays UNIT: the
# arrays they lie on; vol_file ID: the file of volume ID on its file array
# (under $E2E_TMP/ARRAY). ajson is tests/api/lib.sh's.
members_of() { ajson GET "/v1/volumes/$1" | jq -r '[(.members // [])[].id] | join(" ")'; }
unit_arrays() {
  local m
  for m in $(members_of "$1"); do ajson GET "/v1/volumes/$m" | jq -r .array; done | sort -u | tr '\n' ' ' | sed 's/ $//'
}
vol_file() {
  local j
  j=$(ajson GET "/v1/volumes/$1")
  echo "$E2E_TMP/$(jq -r .array <<<"$j")/volumes/$(jq -r .array_volume <<<"$j")"
}
# zero_file FILE: true when FILE holds only zero bytes.
zero_file() { [[ $(tr -d '\0' <"$1" | head -c 1 | wc -c) == 0 ]]; }
# host_writer STOP [MAX]: the host's writer in the background (one session).
host_writer() {
  "$HOSTTOOL" "$INI" "$(host_url h1 0)" write "$BLOCKS" "$STATE" "$1" "${2:-120}" >"$E2E_TMP/writer.out" \
    2>"$E2E_TMP/writer.err" &
  WRITER=$!
}
host_verify() { timeout 60 "$HOSTTOOL" "$INI" "$(host_url h1 0)" verify "$BLOCKS" "$STATE"; }
# writes_between T0 T1: the writer's acknowledged writes per second in [T0, T1] (ms).
writes_between() {
  awk -v a="$1" -v b="$2" '$1 == "tick" && $2 >= a && first == "" {first = $2; w0 = $3}
    $1 == "tick" && $2 <= b {last = $2; w1 = $3}
    END {if (last > first) printf "%.0f\n", (w1 - w0) * 1000 / (last - first); else print 0}' "$E2E_TMP/writer.out"
}
now_ms() { date +%s%3N; }
