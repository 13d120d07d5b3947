# shellcheck shell=bash
# Sourced by the *-up.sh and *-smoke.sh scripts. The caller defines say() and fail() for its log
# prefix, and the variables each function names ($run, $start_timeout, $stop_hint, $timeout_s).
# shellcheck disable=SC2154

# await_ready NAME PID WHAT CHECK...: runs CHECK every half second until it succeeds. Fails with the
# tail of $run/NAME.log when process PID exits, or when $start_timeout seconds pass (the process is
# left running; $stop_hint says what stops it). WHAT says what NAME does once ready.
await_ready() {
  local name="$1" pid="$2" what="$3" started deadline
  shift 3
  started=$(date +%s)
  deadline=$((started + start_timeout))
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$run/$name.pid"
      say "last lines of $run/$name.log:" >&2
      tail -n 30 "$run/$name.log" >&2 || true
      fail "$name (pid $pid) exited before it would $what"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "last lines of $run/$name.log:" >&2
      tail -n 30 "$run/$name.log" >&2 || true
      fail "$name (pid $pid) did not $what within ${start_timeout}s (left running; $stop_hint stops it)"
    fi
    sleep 0.5
  done
  say "$name: $what ($(($(date +%s) - started))s)"
}

# wait_for WHAT EXPECTED COMMAND...: runs COMMAND every second until it prints EXPECTED; fails after
# $timeout_s seconds with what it printed last, and the output of wait_context() if the caller
# defines one.
wait_for() {
  local what="$1" expected="$2" got="" deadline context=""
  shift 2
  deadline=$(($(date +%s) + timeout_s))
  while :; do
    got="$("$@" 2>/dev/null || true)"
    [ "$got" = "$expected" ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      declare -F wait_context >/dev/null && context="; $(wait_context)"
      fail "$what: expected '$expected', still '$got' after ${timeout_s}s$context"
    fi
    sleep 1
  done
}
