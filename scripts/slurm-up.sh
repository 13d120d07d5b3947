#!/usr/bin/env bash
# Starts a one-node Slurm cluster on the loopback interface (munged, slurmctld, slurmd; no systemd,
# no accounting database) for tests and for trying the Slurm plugin, installing Debian's packages
# first when they are missing. Config, munge key, state, logs, pid files and the directory that
# stands for the cluster's shared filesystem all live under one base directory. Then, unless
# SLURM_WITH_SSHD=0, starts the loopback login node with sshd-up.sh, whose sessions get SLURM_CONF.
# Running it again while the cluster is up changes nothing.
#
# Environment:
#   SLURM_BASE           base directory (default /tmp/ardea-slurm)
#   SLURM_CPUS           CPUs the node advertises (default 8, so several containers run at once
#                        even on a 2-core machine; more than the machine has is allowed)
#   SLURM_MEMORY_MB      memory the node advertises (default 90% of MemTotal)
#   SLURM_CTLD_PORT      slurmctld port on 127.0.0.1 (default 6817)
#   SLURMD_PORT          slurmd port on 127.0.0.1 (default 6818)
#   SLURM_SRUN_PORTS     port range for srun (default 60001-60200)
#   SLURM_START_TIMEOUT  seconds to wait for each daemon (default 30)
#   SLURM_FRESH=1        wipe the controller's saved jobs and node state before starting
#   SLURM_WITH_SSHD      also run sshd-up.sh (default 1); SSHD_BASE and SSHD_PORT pass through
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="${SLURM_BASE:-/tmp/ardea-slurm}"
cpus="${SLURM_CPUS:-8}"
memory_mb="${SLURM_MEMORY_MB:-$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)}"
ctld_port="${SLURM_CTLD_PORT:-6817}"
slurmd_port="${SLURMD_PORT:-6818}"
srun_ports="${SLURM_SRUN_PORTS:-60001-60200}"
start_timeout="${SLURM_START_TIMEOUT:-30}"
node=localhost
config="$base/etc/slurm.conf"
munge_socket="$base/munge/munge.socket.2"
munged_pid="$base/munge/munged.pid"
slurmctld_pid="$base/run/slurmctld.pid"
slurmd_pid="$base/run/slurmd.pid"

say() { echo "[slurm-up] $*"; }
fail() { echo "[slurm-up] error: $*" >&2; exit 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Waits up to start_timeout seconds for "$@" to succeed.
wait_for() {
  local deadline=$(($(date +%s) + start_timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
show_log() { echo "[slurm-up] last lines of $1:" >&2; tail -n 30 "$1" >&2 || true; }

[[ "$cpus" =~ ^[1-9][0-9]*$ ]] || fail "SLURM_CPUS must be a positive whole number, got '$cpus'"
[[ "$memory_mb" =~ ^[1-9][0-9]*$ ]] || fail "SLURM_MEMORY_MB must be a positive whole number, got '$memory_mb'"

missing=()
for binary in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd; do [ -x "$binary" ] || missing+=("$binary"); done
for command in sbatch squeue scontrol scancel sinfo munge unmunge; do command -v "$command" >/dev/null 2>&1 || missing+=("$command"); done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1 || fail "Slurm is not installed (missing ${missing[*]}) and installing it needs root (or sudo)"
  as_root=""
  [ "$(id -u)" = 0 ] || as_root="sudo"
  say "installing slurmctld slurmd slurm-client munge with apt-get (missing ${missing[*]})"
  # Package lists may be absent or stale on a fresh machine, and a stale list ends in a 404.
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # Their postinst scripts try to start services; without systemd that is a harmless no-op.
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
else
  say "Slurm is installed ($(/usr/sbin/slurmctld -V))"
fi

# With NoInAddrAny, slurmd and srun bind to the address the host name resolves to.
host_address="$(getent hosts "$(hostname)" | awk '{ print $1; exit }' || true)"
case "$host_address" in
  127.* | ::1 | "") ;;
  *) say "warning: $(hostname) resolves to $host_address, not loopback; srun's ports would listen there" ;;
esac

mkdir -p "$base"/{etc,state/ctld,state/slurmd,log,run,munge,shared}
# Jobs run as the submitting user and write below shared/, like on a cluster's shared filesystem.
# munged insists that every user can reach its socket directory; the key itself is 0400.
chmod 755 "$base" "$base/shared" "$base/munge"
if [ ! -s "$base/munge/munge.key" ]; then
  say "generating munge key $base/munge/munge.key"
  dd if=/dev/urandom of="$base/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$base/munge/munge.key"
fi

new_config="$(cat <<EOF
# written by slurm-up.sh: one node on loopback, no cgroups, no accounting database
ClusterName=ardea
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
# Bind to the loopback address the host name resolves to instead of every interface.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SrunPortRange=$srun_ports
StateSaveLocation=$base/state/ctld
SlurmdSpoolDir=$base/state/slurmd
SlurmctldPidFile=$slurmctld_pid
SlurmdPidFile=$slurmd_pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# Start batch jobs on the next controller tick instead of seconds later.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Advertise SLURM_CPUS even when the machine has fewer cores.
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
KillWait=5
InactiveLimit=0
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
)"
if alive "$slurmctld_pid" || alive "$slurmd_pid"; then
  if [ "$new_config" != "$(cat "$config" 2>/dev/null)" ]; then
    fail "Slurm is running with another config than these settings would write; run scripts/slurm-down.sh first"
  fi
else
  printf '%s\n' "$new_config" >"$config"
  say "wrote $config ($cpus CPUs, $memory_mb MB, controller on 127.0.0.1:$ctld_port)"
fi
printf 'export SLURM_CONF=%q\n' "$config" >"$base/env.sh"
export SLURM_CONF="$config"

if [ "${SLURM_FRESH:-0}" = 1 ] && ! alive "$slurmctld_pid"; then
  say "wiping $base/state (SLURM_FRESH=1)"
  rm -rf "$base/state/ctld"/* "$base/state/slurmd"/*
fi

if alive "$munged_pid"; then
  say "munged is already running (pid $(cat "$munged_pid"))"
else
  # munged runs as root only when every path it uses is given explicitly.
  /usr/sbin/munged --key-file="$base/munge/munge.key" --socket="$munge_socket" --pid-file="$munged_pid" \
    --log-file="$base/munge/munged.log" --seed-file="$base/munge/munged.seed"
  wait_for test -S "$munge_socket" || { show_log "$base/munge/munged.log"; fail "munged did not create $munge_socket"; }
  munge -S "$munge_socket" -n | unmunge -S "$munge_socket" >/dev/null || fail "munge could not encode and decode a credential"
  say "munged is up (pid $(cat "$munged_pid"))"
fi

if alive "$slurmctld_pid"; then
  say "slurmctld is already running (pid $(cat "$slurmctld_pid"))"
else
  listening "$ctld_port" && fail "something already listens on 127.0.0.1:$ctld_port that this script did not start; stop it or pick another SLURM_CTLD_PORT"
  # -i starts without complaint from missing or older state files.
  /usr/sbin/slurmctld -i -f "$config"
  ping_up() { scontrol ping | grep -q 'is UP'; }
  wait_for ping_up || { show_log "$base/log/slurmctld.log"; fail "slurmctld did not answer within ${start_timeout}s"; }
  say "slurmctld is up on 127.0.0.1:$ctld_port (pid $(cat "$slurmctld_pid"))"
fi

node_ready() { sinfo -h -n "$node" -o %T | grep -Eq '^(idle|mixed|allocated)'; }
if alive "$slurmd_pid"; then
  say "slurmd is already running (pid $(cat "$slurmd_pid"))"
else
  listening "$slurmd_port" && fail "something already listens on 127.0.0.1:$slurmd_port that this script did not start; stop it or pick another SLURMD_PORT"
  # -N pins the node name, so the machine's host name does not matter.
  /usr/sbin/slurmd -N "$node" -f "$config"
fi
if ! wait_for node_ready; then
  # A node that went down while the cluster was stopped comes back only when resumed.
  scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
  wait_for node_ready || { show_log "$base/log/slurmd.log"; fail "node $node is '$(sinfo -h -n "$node" -o %T)', not idle"; }
fi
say "node $node (slurmd pid $(cat "$slurmd_pid")) is $(sinfo -h -n "$node" -o %T) with $cpus CPUs; clients need: source $base/env.sh"

if [ "${SLURM_WITH_SSHD:-1}" = 1 ]; then
  SSHD_SETENV="SLURM_CONF=$config" "$here/sshd-up.sh"
fi
