#!/usr/bin/env bash
# Starts a private OpenSSH server on the loopback interface, standing in for a cluster's login node in
# tests and for trying the Slurm plugin on one machine. Installs Debian's openssh-server first when it
# is missing. Host key, client key, authorized_keys, known_hosts, config, log and pid file all live
# under one base directory; root may log in with the generated client key only. Running it again
# while the server is up changes nothing, unless the config it would write differs, in which case
# the server is restarted with the new one.
#
# Environment:
#   SSHD_BASE           base directory (default /tmp/ardea-sshd)
#   SSHD_PORT           port on 127.0.0.1 (default 2222)
#   SSHD_SETENV         optional `NAME=value` set in every session (slurm-up.sh passes SLURM_CONF=...)
#   SSHD_START_TIMEOUT  seconds to wait for a login to succeed (default 15)
set -euo pipefail

base="${SSHD_BASE:-/tmp/ardea-sshd}"
port="${SSHD_PORT:-2222}"
setenv="${SSHD_SETENV:-}"
start_timeout="${SSHD_START_TIMEOUT:-15}"
config="$base/sshd_config"
pid_file="$base/sshd.pid"
log_file="$base/sshd.log"

say() { echo "[sshd-up] $*"; }
fail() { echo "[sshd-up] error: $*" >&2; exit 1; }

running_pid() { [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null && cat "$pid_file"; }
ssh_args=(-p "$port" -i "$base/client_key" -o "UserKnownHostsFile=$base/known_hosts" -o StrictHostKeyChecking=yes
  -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR)
can_login() { ssh "${ssh_args[@]}" root@127.0.0.1 true 2>/dev/null; }

if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null 2>&1 || ! command -v ssh >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1 || fail "openssh-server is not installed and installing it needs root (or sudo)"
  as_root=""
  [ "$(id -u)" = 0 ] || as_root="sudo"
  say "installing openssh-server openssh-client with apt-get"
  # Package lists may be absent or stale on a fresh machine, and a stale list ends in a 404.
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
else
  say "OpenSSH is installed ($(ssh -V 2>&1))"
fi

mkdir -p "$base"
chmod 700 "$base"
if [ ! -s "$base/ssh_host_ed25519_key" ]; then
  say "generating host key $base/ssh_host_ed25519_key"
  ssh-keygen -q -t ed25519 -N '' -C ardea-test-host -f "$base/ssh_host_ed25519_key"
fi
if [ ! -s "$base/client_key" ]; then
  say "generating client key $base/client_key"
  ssh-keygen -q -t ed25519 -N '' -C ardea-test-client -f "$base/client_key"
fi
cp "$base/client_key.pub" "$base/authorized_keys"
chmod 600 "$base/authorized_keys"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$base/ssh_host_ed25519_key.pub")" >"$base/known_hosts"

new_config="$(
  echo "# written by sshd-up.sh: loopback only, key login only"
  echo "Port $port"
  echo "ListenAddress 127.0.0.1"
  echo "HostKey $base/ssh_host_ed25519_key"
  echo "PidFile $pid_file"
  echo "AuthorizedKeysFile $base/authorized_keys"
  echo "PermitRootLogin prohibit-password"
  echo "PubkeyAuthentication yes"
  echo "PasswordAuthentication no"
  echo "KbdInteractiveAuthentication no"
  echo "UsePAM no"
  # StrictModes rejects keys below a world-writable directory such as /tmp.
  echo "StrictModes no"
  echo "PrintMotd no"
  # Tests open many sessions at once over one connection and many connections in a row.
  echo "MaxSessions 50"
  echo "MaxStartups 100:30:200"
  [ -z "$setenv" ] || echo "SetEnv $setenv"
  echo "Subsystem sftp internal-sftp"
)"

if pid="$(running_pid)"; then
  if [ "$new_config" = "$(cat "$config" 2>/dev/null)" ] && can_login; then
    say "already running on 127.0.0.1:$port (pid $pid, base $base)"
    exit 0
  fi
  say "restarting sshd (pid $pid): its config changed"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$pid_file"
fi

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  fail "something already listens on 127.0.0.1:$port that this script did not start (no live pid in $pid_file); stop it or pick another SSHD_PORT"
fi

say "writing $config"
printf '%s\n' "$new_config" >"$config"
# The privilege-separation directory is normally created by systemd.
mkdir -p /run/sshd
chmod 755 /run/sshd
/usr/sbin/sshd -t -f "$config" || fail "sshd rejected $config"

say "starting sshd on 127.0.0.1:$port (log $log_file)"
# sshd re-executes itself, so it must be started by its absolute path; it daemonizes and writes PidFile.
/usr/sbin/sshd -f "$config" -E "$log_file"

deadline=$(($(date +%s) + start_timeout))
until can_login; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "[sshd-up] last lines of $log_file:" >&2
    tail -n 20 "$log_file" >&2 || true
    fail "root could not log in on 127.0.0.1:$port with $base/client_key within ${start_timeout}s"
  fi
  sleep 0.1
done

cat >"$base/ssh.sh" <<EOF
#!/bin/sh
# written by sshd-up.sh: runs a command on the loopback login node
exec ssh ${ssh_args[*]} root@127.0.0.1 "\$@"
EOF
chmod 755 "$base/ssh.sh"
say "sshd is up on 127.0.0.1:$port (pid $(cat "$pid_file")); key $base/client_key, known_hosts $base/known_hosts, try: $base/ssh.sh hostname"
