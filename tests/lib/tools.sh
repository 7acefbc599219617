# shellcheck shell=bash
# Locates helper programs built with the tests (tests/tools/), building them
# into $E2E_TMP when a script runs outside CTest. Needs common.sh.

# vpd_tool: prints the path of iscsi_vpd.
vpd_tool() {
  if [[ -n "${VSL_E2E_VPD:-}" && -x "$VSL_E2E_VPD" ]]; then
    echo "$VSL_E2E_VPD"
    return
  fi
  local out="$E2E_TMP/iscsi_vpd"
  if [[ ! -x "$out" ]]; then
    gcc -O1 -o "$out" "$E2E_LIB_DIR/../tools/iscsi_vpd.c" -liscsi >&2 ||
      fail_now "cannot build tests/tools/iscsi_vpd.c"
  fi
  echo "$out"
}
