# shellcheck shell=bash
# Sourced by the *-down.sh scripts. Defines stop_pid_file NAME PID_FILE TIMEOUT: SIGTERM to the
# process in PID_FILE, SIGKILL if it still runs after TIMEOUT seconds, then the pid file goes.
# Stopping what is not running is not an error. The caller defines say() for its log prefix.

pid_file_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid_file() {
  local name="$1" pid_file="$2" timeout="$3" pid deadline
  if ! pid_file_alive "$pid_file"; then
    say "$name is not running"
    rm -f "$pid_file"
    return 0
  fi
  pid="$(cat "$pid_file")"
  kill "$pid" 2>/dev/null || true
  deadline=$(($(date +%s) + timeout))
  while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) still alive after ${timeout}s; sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  say "$name (pid $pid) stopped"
}
