#!/usr/bin/env bash
# Stops the cluster that slurm-up.sh started: cancels every job first (a job's slurmstepd outlives
# slurmd), then stops slurmd, slurmctld and munged by their pid files (SIGTERM, then SIGKILL after
# SLURM_STOP_TIMEOUT seconds), then the loopback sshd with sshd-down.sh. Stopping what is not
# running is not an error.
#
# Environment:
#   SLURM_BASE          base directory given to slurm-up.sh (default /tmp/ardea-slurm)
#   SLURM_STOP_TIMEOUT  seconds to wait for jobs to end and for each daemon after SIGTERM (default 15)
#   SLURM_WITH_SSHD     also run sshd-down.sh (default 1); SSHD_BASE passes through
#   SLURM_PURGE=1       delete the base directory (config, state, logs, shared/) afterwards
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="${SLURM_BASE:-/tmp/ardea-slurm}"
stop_timeout="${SLURM_STOP_TIMEOUT:-15}"
export SLURM_CONF="$base/etc/slurm.conf"

say() { echo "[slurm-down] $*"; }
# shellcheck source-path=SCRIPTDIR source=lib/stop-pid-file.sh
. "$(dirname "$0")/lib/stop-pid-file.sh"

if pid_file_alive "$base/run/slurmctld.pid"; then
  jobs="$(squeue -h -o %i 2>/dev/null | wc -l)"
  if [ "$jobs" -gt 0 ]; then
    say "cancelling $jobs job(s)"
    scancel --quiet --user="$(id -un)" 2>/dev/null || true
    [ "$(id -un)" = root ] || scancel --quiet --user=root 2>/dev/null || true
    deadline=$(($(date +%s) + stop_timeout))
    while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
    left="$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')"
    [ -z "$left" ] || say "warning: job(s) $left still listed after ${stop_timeout}s"
  else
    say "no jobs to cancel"
  fi
fi

stop_pid_file slurmd "$base/run/slurmd.pid" "$stop_timeout"
stop_pid_file slurmctld "$base/run/slurmctld.pid" "$stop_timeout"
stop_pid_file munged "$base/munge/munged.pid" "$stop_timeout"

if [ "${SLURM_WITH_SSHD:-1}" = 1 ]; then
  "$here/sshd-down.sh"
fi

if [ "${SLURM_PURGE:-0}" = 1 ]; then
  say "deleting $base (SLURM_PURGE=1)"
  rm -rf "$base"
fi
