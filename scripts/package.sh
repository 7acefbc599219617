#!/usr/bin/env bash
# Builds the Debian package vsl_<version>_<arch>.deb from this tree with
# CPack (packaging/CMakeLists.txt): the binary (stripped), man pages, bash
# completion, examples, docs, /etc/vsl/vsl.conf and the systemd unit; run-time
# dependencies computed by dpkg-shlibdeps.
#   scripts/package.sh [BUILD_DIR [OUT_DIR]]
# BUILD_DIR is a build tree (default build/, configured here when it has no
# CMakeCache.txt); only vsl and its generated docs are built. The .deb goes
# to OUT_DIR (default BUILD_DIR); its path is the last line printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$root/build}")
out=$(realpath -m "${2:-$build}")
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target vsl vsl_docs
mkdir -p "$out"
work=$(mktemp -d "$out/.cpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$build" && cpack -G DEB -B "$work" >"$work/cpack.log" 2>&1) || {
  cat "$work/cpack.log" >&2
  echo "package.sh: cpack failed" >&2
  exit 1
}
deb=$(find "$work" -maxdepth 1 -name 'vsl_*.deb' | head -1)
[[ -n $deb ]] || { cat "$work/cpack.log" >&2; echo "package.sh: cpack made no vsl_*.deb" >&2; exit 1; }
mv -f "$deb" "$out/"
echo "$out/$(basename "$deb")"
