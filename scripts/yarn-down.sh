#!/usr/bin/env bash
# Stops what yarn-up.sh started, by its pid files: first the NodeManager (on SIGTERM it stops the
# containers it runs), then the ResourceManager: SIGTERM, then SIGKILL after YARN_STOP_TIMEOUT
# seconds. Then it ends every process a container left: DefaultContainerExecutor starts each
# container in its own session (setsid), so neither the NM's process group nor, once the NM is gone,
# its process tree holds them; they are found by the environment every container process inherits
# (LOCAL_DIRS under this run directory's nm-local), sent SIGTERM, then SIGKILL after 5 s.
# Stopping what is not running is not an error. ZooKeeper (scripts/zk-up.sh) is shared and stays up;
# scripts/zk-down.sh stops it. The jars stay in the cache, so the next yarn-up.sh starts in seconds;
# the run directory (config, logs, NM dirs, services' definitions) stays too unless YARN_PURGE=1.
#
# Environment:
#   ARDEA_CACHE        cache root given to yarn-up.sh (default ~/.cache/ardea)
#   HADOOP_VERSION     Hadoop release given to yarn-up.sh (default 3.4.2)
#   YARN_STOP_TIMEOUT  seconds to wait for each daemon after SIGTERM (default 30)
#   YARN_PURGE=1       delete the run directory afterwards
set -euo pipefail

cache="${ARDEA_CACHE:-$HOME/.cache/ardea}"
run="$cache/yarn-${HADOOP_VERSION:-3.4.2}/run"
stop_timeout="${YARN_STOP_TIMEOUT:-30}"

say() { echo "[yarn-down] $*"; }
# shellcheck source-path=SCRIPTDIR source=lib/stop-pid-file.sh
. "$(dirname "$0")/lib/stop-pid-file.sh"

# Pids of processes started by this NodeManager's containers (their environment names its local dirs).
container_pids() {
  local e p
  for e in /proc/[0-9]*/environ; do
    p="${e#/proc/}"
    p="${p%/environ}"
    [ "$p" = $$ ] && continue
    tr '\0' '\n' 2>/dev/null <"$e" | grep -q "^LOCAL_DIRS=$run/nm-local/" && echo "$p"
  done
  return 0
}

stop_pid_file nodemanager "$run/nm.pid" "$stop_timeout"
stop_pid_file resourcemanager "$run/rm.pid" "$stop_timeout"

left="$(container_pids | tr '\n' ' ')"
if [ -n "$left" ]; then
  say "ending processes the containers left: $left"
  # shellcheck disable=SC2086 # a list of pids
  kill $left 2>/dev/null || true
  deadline=$(($(date +%s) + 5))
  while [ -n "$(container_pids)" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
  left="$(container_pids | tr '\n' ' ')"
  if [ -n "$left" ]; then
    say "still alive after 5s, SIGKILL: $left"
    # shellcheck disable=SC2086
    kill -9 $left 2>/dev/null || true
  fi
fi

if [ "${YARN_PURGE:-0}" = 1 ]; then
  rm -rf "$run"
  say "removed $run (YARN_PURGE=1); jars stay cached"
fi
