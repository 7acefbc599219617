#!/usr/bin/env bash
# Installs the console tests' npm packages (tests/ui/package-lock.json:
# playwright-core only, which never downloads a browser: the tests drive
# Debian's chromium) into a cache directory keyed by the lock file's hash,
# with `npm ci`, and prints that directory. Does nothing when it is there.
#   VSL_UI_NODE_DIR  the cache (default ~/.cache/vsl/ui-node)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lock=$root/tests/ui/package-lock.json
key=$(cat "$root/tests/ui/package.json" "$lock" | sha256sum | cut -c1-16)
dir=${VSL_UI_NODE_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vsl/ui-node}/$key
if [[ ! -f $dir/node_modules/playwright-core/package.json ]]; then
  mkdir -p "$dir"
  cp "$root/tests/ui/package.json" "$lock" "$dir/"
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
fi
echo "$dir"
