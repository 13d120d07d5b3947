#!/usr/bin/env bash
# Starts a standalone ZooKeeper on the loopback interface for tests and for trying a non-local
# cluster, installing Debian's `zookeeper` package first when it is missing. Everything the server
# writes (config, data, log, pid file) stays under one base directory, so zk-down.sh with
# ZK_PURGE=1 leaves nothing behind. Running it again while the server is up changes nothing.
#
# Environment:
#   ZK_BASE           base directory (default /tmp/ardea-zk)
#   ZK_PORT           client port on 127.0.0.1 (default 2181)
#   ZK_HEAP           maximum Java heap (default 256m)
#   ZK_START_TIMEOUT  seconds to wait for the server to answer (default 30)
#   ZK_FRESH=1        wipe the data directory before starting
set -euo pipefail

base="${ZK_BASE:-/tmp/ardea-zk}"
port="${ZK_PORT:-2181}"
heap="${ZK_HEAP:-256m}"
start_timeout="${ZK_START_TIMEOUT:-30}"
jar=/usr/share/java/zookeeper.jar
pid_file="$base/zk.pid"
log_file="$base/zk.log"
config="$base/conf/zoo.cfg"

say() { echo "[zk-up] $*"; }
fail() { echo "[zk-up] error: $*" >&2; exit 1; }

# Four-letter word over bash's /dev/tcp, so neither nc nor a ZooKeeper client is needed.
four_letter() {
  local reply
  exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || return 1
  printf '%s' "$1" >&3
  reply="$(timeout 2 cat <&3 || true)"
  exec 3<&- 3>&-
  printf '%s' "$reply"
}
# `ruok` says imok as soon as the port is open, while sessions are still refused or left unanswered;
# `srvr` reports a Mode only once the server really serves.
answers() { four_letter srvr 2>/dev/null | grep -q '^Mode: '; }
running_pid() { [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null && cat "$pid_file"; }

if pid="$(running_pid)"; then
  say "already running on 127.0.0.1:$port (pid $pid, base $base)"
  exit 0
fi

if [ ! -f "$jar" ] || ! command -v java >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1 || fail "ZooKeeper is not installed and installing it needs root (or sudo)"
  as_root=""
  [ "$(id -u)" = 0 ] || as_root="sudo"
  packages=(zookeeper)
  command -v java >/dev/null 2>&1 || packages+=(default-jre-headless)
  say "installing ${packages[*]} with apt-get"
  # Package lists may be absent or stale on a fresh machine, and a stale list ends in a 404.
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  [ -f "$jar" ] || fail "apt-get installed zookeeper but $jar is missing"
else
  say "ZooKeeper is installed ($jar)"
fi

if answers; then
  fail "something already answers on 127.0.0.1:$port that this script did not start (no live pid in $pid_file); stop it or pick another ZK_PORT"
fi

if [ "${ZK_FRESH:-0}" = 1 ]; then
  say "wiping $base/data (ZK_FRESH=1)"
  rm -rf "$base/data"
fi
mkdir -p "$base/data" "$base/conf"
say "writing $config (127.0.0.1:$port, admin server off)"
cat >"$config" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$base/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr,cons
autopurge.purgeInterval=0
EOF

# The jar's manifest carries its dependencies' class path but no slf4j binding; without one the
# server logs nothing at all.
classpath="$base/conf:$jar"
[ -f /usr/share/java/slf4j-simple.jar ] && classpath="$classpath:/usr/share/java/slf4j-simple.jar"

say "starting ZooKeeperServerMain (log $log_file)"
nohup java -Xms64m -Xmx"$heap" -XX:+UseSerialGC \
  -Dzookeeper.admin.enableServer=false \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.showDateTime=true \
  -cp "$classpath" org.apache.zookeeper.server.ZooKeeperServerMain "$config" \
  >"$log_file" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pid_file"

deadline=$(($(date +%s) + start_timeout))
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$pid_file"
    echo "[zk-up] last lines of $log_file:" >&2
    tail -n 30 "$log_file" >&2 || true
    fail "ZooKeeper (pid $pid) exited during startup"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    kill "$pid" 2>/dev/null || true
    rm -f "$pid_file"
    echo "[zk-up] last lines of $log_file:" >&2
    tail -n 30 "$log_file" >&2 || true
    fail "ZooKeeper did not answer on 127.0.0.1:$port within ${start_timeout}s; stopped it"
  fi
  sleep 0.2
done
say "ZooKeeper is up on 127.0.0.1:$port (pid $pid)"
