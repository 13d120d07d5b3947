#!/usr/bin/env bash
# Stops the ZooKeeper that zk-up.sh started, by its pid file: SIGTERM first, SIGKILL if it is still
# alive after ZK_STOP_TIMEOUT seconds. Stopping a server that is not running is not an error.
#
# Environment:
#   ZK_BASE           base directory given to zk-up.sh (default /tmp/ardea-zk)
#   ZK_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 10)
#   ZK_PURGE=1        delete the base directory (data, config, log) afterwards
set -euo pipefail

base="${ZK_BASE:-/tmp/ardea-zk}"
stop_timeout="${ZK_STOP_TIMEOUT:-10}"
pid_file="$base/zk.pid"

say() { echo "[zk-down] $*"; }

if [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  pid="$(cat "$pid_file")"
  say "stopping ZooKeeper (pid $pid) with SIGTERM"
  kill "$pid" 2>/dev/null || true
  deadline=$(($(date +%s) + stop_timeout))
  while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "still alive after ${stop_timeout}s; sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  say "stopped"
else
  say "not running (no live pid in $pid_file)"
fi
rm -f "$pid_file"

if [ "${ZK_PURGE:-0}" = 1 ]; then
  say "deleting $base (ZK_PURGE=1)"
  rm -rf "$base"
fi
