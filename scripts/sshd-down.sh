#!/usr/bin/env bash
# Stops the sshd that sshd-up.sh started, by its pid file: SIGTERM first, SIGKILL if it is still
# alive after SSHD_STOP_TIMEOUT seconds. Stopping a server that is not running is not an error.
#
# Environment:
#   SSHD_BASE          base directory given to sshd-up.sh (default /tmp/ardea-sshd)
#   SSHD_STOP_TIMEOUT  seconds between SIGTERM and SIGKILL (default 5)
#   SSHD_PURGE=1       delete the base directory (keys, config, log) afterwards
set -euo pipefail

base="${SSHD_BASE:-/tmp/ardea-sshd}"
stop_timeout="${SSHD_STOP_TIMEOUT:-5}"
pid_file="$base/sshd.pid"

say() { echo "[sshd-down] $*"; }

if [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  pid="$(cat "$pid_file")"
  say "stopping sshd (pid $pid) with SIGTERM"
  kill "$pid" 2>/dev/null || true
  deadline=$(($(date +%s) + stop_timeout))
  # A daemon whose parent is gone may stay a zombie when PID 1 does not reap; kill -0 still sees it,
  # so a zombie counts as stopped.
  while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ]; then
    say "still alive after ${stop_timeout}s; sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  say "stopped"
else
  say "not running (no live pid in $pid_file)"
fi
rm -f "$pid_file"

if [ "${SSHD_PURGE:-0}" = 1 ]; then
  say "deleting $base (SSHD_PURGE=1)"
  rm -rf "$base"
fi
