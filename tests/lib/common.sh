# shellcheck shell=bash
# Shared helpers for vsl's end-to-end scripts: temp dirs, cleanup, free ports,
# bounded waits and check bookkeeping. Source it, then call e2e_init.
#
# Contract: every process a script starts is registered with e2e_on_exit (or
# started through target.sh) so that the EXIT trap kills it; every file lives
# under $E2E_TMP, which the trap removes (kept when E2E_KEEP=1, for debugging).

E2E_FAILURES=0
E2E_CHECKS=0
E2E_CLEANUPS=()

# e2e_init [DEADLINE]: makes $E2E_TMP, installs the traps and a watchdog that
# stops the script after DEADLINE seconds ($E2E_DEADLINE overrides; 600 if
# neither is given), so
# that a hung target fails the script with its cleanup done, before CTest's
# own timeout would kill it without one.
e2e_init() {
  E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/vsl-e2e.XXXXXX")
  export E2E_TMP
  trap e2e_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local deadline=${E2E_DEADLINE:-${1:-600}} main=$$
  (
    sleep "$deadline" &
    wait $!
    echo "FAIL: $(basename "$0") did not finish within ${deadline}s; stopping it" >&2
    # The script runs its TERM trap only once its current command ends, so
    # that command (a child of the script) is stopped too.
    for p in $(ps -o pid= --ppid "$main"); do
      [[ $p != "$BASHPID" ]] && kill -TERM "$p" 2>/dev/null
    done
    kill -TERM "$main"
  ) &
  E2E_WATCHDOG=$!
  disown "$E2E_WATCHDOG"
  e2e_on_exit 'kill $(ps -o pid= --ppid '"$E2E_WATCHDOG"') '"$E2E_WATCHDOG"
}

# e2e_on_exit CMD...: runs CMD (through eval) at exit, last registered first.
e2e_on_exit() {
  E2E_CLEANUPS+=("$*")
}

e2e_cleanup() {
  local rc=$? i
  set +e
  for ((i = ${#E2E_CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${E2E_CLEANUPS[$i]}" >/dev/null 2>&1
  done
  if [[ -n "${E2E_TMP:-}" && -d "$E2E_TMP" ]]; then
    if [[ "${E2E_KEEP:-0}" == 1 ]]; then
      echo "kept $E2E_TMP" >&2
    else
      rm -rf "$E2E_TMP"
    fi
  fi
  exit "$rc"
}

log() { echo "--- $*"; }

# run_to FILE CMD...: runs CMD with its output in FILE; CMD's exit status.
run_to() {
  local f=$1
  shift
  "$@" >"$f" 2>&1
}

# check DESCRIPTION CMD...: runs CMD, which must succeed. Its output is shown
# on failure.
check() {
  local what=$1
  shift
  E2E_CHECKS=$((E2E_CHECKS + 1))
  if "$@" >"$E2E_TMP/check.$E2E_CHECKS.out" 2>&1; then
    echo "PASS: $what"
  else
    local rc=$?
    echo "FAIL: $what"
    echo "      command: $*"
    echo "      exit status: $rc; output:"
    sed -n '1,40s/^/      | /p' "$E2E_TMP/check.$E2E_CHECKS.out"
    E2E_FAILURES=$((E2E_FAILURES + 1))
  fi
}

# check_fails DESCRIPTION CMD...: CMD must fail (exit status != 0) — used
# for what must be refused. A timeout (124) counts as a failure of the check:
# a refusal must be an answer, not silence.
check_fails() {
  local what=$1
  shift
  E2E_CHECKS=$((E2E_CHECKS + 1))
  local rc=0
  "$@" >"$E2E_TMP/check.$E2E_CHECKS.out" 2>&1 || rc=$?
  if [[ $rc -ne 0 && $rc -ne 124 ]]; then
    echo "PASS: $what (refused, exit $rc: $(head -c 160 "$E2E_TMP/check.$E2E_CHECKS.out" | tr '\n' ' '))"
  else
    echo "FAIL: $what"
    echo "      command: $*"
    echo "      exit status: $rc (expected a refusal); output:"
    sed -n '1,40s/^/      | /p' "$E2E_TMP/check.$E2E_CHECKS.out"
    E2E_FAILURES=$((E2E_FAILURES + 1))
  fi
}

# check_not DESCRIPTION CMD...: CMD (typically a grep) must fail.
check_not() {
  local what=$1
  shift
  E2E_CHECKS=$((E2E_CHECKS + 1))
  if "$@" >"$E2E_TMP/check.$E2E_CHECKS.out" 2>&1; then
    echo "FAIL: $what"
    echo "      command: $* (succeeded; expected it to fail); output:"
    sed -n '1,40s/^/      | /p' "$E2E_TMP/check.$E2E_CHECKS.out"
    E2E_FAILURES=$((E2E_FAILURES + 1))
  else
    echo "PASS: $what"
  fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
  E2E_CHECKS=$((E2E_CHECKS + 1))
  if [[ "$2" == "$3" ]]; then
    echo "PASS: $1"
  else
    echo "FAIL: $1"
    echo "      expected: $2"
    echo "      actual:   $3"
    E2E_FAILURES=$((E2E_FAILURES + 1))
  fi
}

# check_ne DESCRIPTION A B: A and B must differ (and A must not be empty).
check_ne() {
  E2E_CHECKS=$((E2E_CHECKS + 1))
  if [[ -n "$2" && "$2" != "$3" ]]; then
    echo "PASS: $1"
  else
    echo "FAIL: $1"
    echo "      first:  $2"
    echo "      second: $3"
    E2E_FAILURES=$((E2E_FAILURES + 1))
  fi
}

# fail_now MESSAGE: a precondition broke; no point going on.
fail_now() {
  echo "FAIL: $*" >&2
  exit 1
}

# e2e_finish: prints the tally; the exit status says whether all checks passed.
e2e_finish() {
  echo "=== $E2E_CHECKS checks, $E2E_FAILURES failed"
  [[ $E2E_FAILURES -eq 0 ]]
}

# free_port: prints a TCP port on 127.0.0.1 that is free and claimed for this
# test, outside the kernel's ephemeral range (tests/lib/free_port.py says why).
free_port() {
  python3 "$(dirname "${BASH_SOURCE[0]}")/free_port.py"
}

# port_listening PORT: true when something listens on 127.0.0.1:PORT.
port_listening() {
  [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
}

# wait_port PORT SECONDS [PID]: waits until PORT listens; fails on timeout or
# when PID (the server that should open it) dies first.
wait_port() {
  local port=$1 secs=$2 pid=${3:-} i
  for ((i = 0; i < secs * 10; i++)); do
    port_listening "$port" && return 0
    if [[ -n "$pid" ]] && ! alive "$pid"; then
      return 1
    fi
    sleep 0.1
  done
  return 1
}

# wait_for_file_line FILE REGEX SECONDS [PID]: waits until FILE has a line
# matching REGEX (grep -E); gives up early when PID (the writer) has ended.
wait_for_file_line() {
  local file=$1 re=$2 secs=$3 pid=${4:-} i
  for ((i = 0; i < secs * 10; i++)); do
    if [[ -f "$file" ]] && grep -qaE "$re" "$file"; then
      return 0
    fi
    if [[ -n "$pid" ]] && ! alive "$pid"; then
      [[ -f "$file" ]] && grep -qaE "$re" "$file"
      return
    fi
    sleep 0.1
  done
  return 1
}

# alive PID: PID runs (a zombie child, dead but not yet waited for, does not).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# stop_pid PID SECONDS [SIGNAL]: SIGNAL (default TERM), then SIGKILL after
# SECONDS. Returns 1 if SIGKILL was needed.
stop_pid() {
  local pid=$1 secs=${2:-10} sig=${3:-TERM} i
  alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -"$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 1
}

# gateway_up VSL CONFIG NAME: starts `VSL gateway --config CONFIG` in the
# background (its output in $E2E_TMP/NAME.out and NAME.err), stopped when the
# test exits; sets GW (its pid) and PORTAL (where it listens) and fails the
# test when it does not start.
gateway_up() {
  local vsl=$1 conf=$2 name=$3
  "$vsl" gateway --config "$conf" >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" &
  GW=$!
  e2e_on_exit "stop_pid $GW 10"
  wait_for_file_line "$E2E_TMP/$name.out" '^vsl gateway: listening on ' 30 "$GW" ||
    fail_now "vsl gateway did not start: $(tail -5 "$E2E_TMP/$name.err")"
  PORTAL=$(sed -n 's/^vsl gateway: listening on //p' "$E2E_TMP/$name.out")
}

# make_file PATH SIZE: a sparse file of SIZE (truncate syntax: 64M, 1G).
make_file() {
  truncate -s "$2" "$1"
}
