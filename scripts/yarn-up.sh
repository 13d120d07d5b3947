#!/usr/bin/env bash
# Starts a real Hadoop YARN on the loopback interface for the YARN pool: a ResourceManager with the
# YARN Services REST API (/app/v1/services) and one NodeManager with the DefaultContainerExecutor,
# so every container is a plain local process of this machine's user. The jars are fetched once
# from Maven (the published org.apache.hadoop artifacts and their dependencies, no Hadoop tarball)
# into a cache keyed by version; Maven's own local repository lives in that cache too, so a cold
# machine pays the whole download here. No HDFS: fs.defaultFS is file:///, services' definitions
# live under $run/services, and service AMs get the RM's own class path (yarn.is.minicluster=true),
# which is valid because they run on the same machine. The Services framework needs ZooKeeper (the
# registry): the repo's scripts/zk-up.sh is started (idempotently) on 127.0.0.1:2181.
# Running it again while everything answers changes nothing.
# Its last line of output is YARN_RM=http://127.0.0.1:<port>.
#
# Every configured port binds 127.0.0.1: RM web app (and the Services API) 8088 (YARN_RM_PORT), RM RPC
# 8032, scheduler 8030, resource tracker 8031, admin 8033; NM RPC 8041, localizer 8040, NM web 8042.
# The run directory is wiped of services' definitions on every start (RM recovery is off, so a name
# left there would be "already taken").
#
# Hadoop 3.5.0 (the first release for Java 17) cannot be used: Maven Central has its RM and NM but no
# hadoop-yarn-services-core/-api 3.5.0 (404; their metadata ends at 3.4.2), so the default is 3.4.2
# (Jersey 1 + Guice), which runs on JDK 17 with the --add-opens below. 3.4.2's RM needs
# hadoop-yarn-server-timelineservice on its class path even with the timeline service off.
#
# Cost measured on a 2-core, 24 GB development machine (OpenJDK 17.0.15, Maven 3.8.7):
#   cold (empty cache): 36 s wall until the node is RUNNING — Maven fetch 21 s (177 jars, 94 MB, plus
#     125 MB in Maven's local repository in the cache), RM and NM up 16 s
#   warm (jars cached, after yarn-down.sh): 10 s (RM REST 9 s, Services API and RUNNING node 1 s later)
#   again while running: 0.1 s; yarn-down.sh: about 21 s (the NM waits for its containers, then 10 s
#     for its monitor thread)
#   RSS after start and a smoke test: RM 285-356 MB, NM 200-210 MB, ZooKeeper 90 MB; each service AM
#     (a container, -Xmx256m) about 170 MB
#
# Environment:
#   ARDEA_CACHE          cache root (default ~/.cache/ardea); jars, Maven repo, config and run
#                        directory live in $ARDEA_CACHE/yarn-<version>/
#   HADOOP_VERSION       Hadoop release (default 3.4.2: 3.5.0 publishes no services jars, see docs/yarn.md)
#   JAVA_HOME            JDK 17+ (default: the one `java` on PATH belongs to); exported to the NM,
#                        whose containers (the service AMs) run {{JAVA_HOME}}/bin/java
#   YARN_RM_PORT         RM web app / REST / Services API port on 127.0.0.1 (default 8088)
#   YARN_NM_MEMORY_MB    memory the NM offers (default 8192; containers only use what they use)
#   YARN_NM_VCORES       vcores the NM offers (default 8; more than a 2-core machine has, on purpose)
#   YARN_MAX_ALLOCATION_MB  largest container the scheduler grants (default 4096)
#   YARN_RM_HEAP, YARN_NM_HEAP  daemons' maximum Java heap (default 512m, 384m)
#   YARN_START_TIMEOUT   seconds to wait for each daemon (default 120)
set -euo pipefail

hadoop_version="${HADOOP_VERSION:-3.4.2}"
cache="${ARDEA_CACHE:-$HOME/.cache/ardea}"
home="$cache/yarn-$hadoop_version"
jars="$home/jars"
run="$home/run"
conf="$run/conf"
repo="$(cd "$(dirname "$0")/.." && pwd)"
rm_web_port="${YARN_RM_PORT:-8088}"
nm_memory="${YARN_NM_MEMORY_MB:-8192}"
nm_vcores="${YARN_NM_VCORES:-8}"
max_alloc="${YARN_MAX_ALLOCATION_MB:-4096}"
rm_heap="${YARN_RM_HEAP:-512m}"
nm_heap="${YARN_NM_HEAP:-384m}"
start_timeout="${YARN_START_TIMEOUT:-120}"
zk_quorum=127.0.0.1:2181
user="$(id -un)"
rm_url="http://127.0.0.1:$rm_web_port"

say() { echo "[yarn-up] $*"; }
fail() { echo "[yarn-up] error: $*" >&2; exit 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
now() { date +%s; }

node_running() { curl -sf --max-time 3 "$rm_url/ws/v1/cluster/nodes" 2>/dev/null | grep -q '"state":"RUNNING"'; }
api_answers() { curl -sf --max-time 3 "$rm_url/app/v1/services/version?user.name=$user" 2>/dev/null | grep -q hadoop_version; }

# The Services framework needs ZooKeeper (the registry); zk-up.sh does nothing when it runs.
bash "$repo/scripts/zk-up.sh"

if alive "$run/rm.pid" && alive "$run/nm.pid" && node_running && api_answers; then
  say "YARN $hadoop_version already running (RM pid $(cat "$run/rm.pid"), NM pid $(cat "$run/nm.pid"), run $run)"
  echo "YARN_RM=$rm_url"
  exit 0
fi

command -v curl >/dev/null 2>&1 || fail "curl is not on PATH; it checks that the daemons answer"
if [ -z "${JAVA_HOME:-}" ]; then
  command -v java >/dev/null 2>&1 || fail "no java on PATH and JAVA_HOME unset; install a JDK 17 (Debian: openjdk-17-jdk-headless)"
  JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
fi
export JAVA_HOME HADOOP_CONF_DIR="$conf"
java="$JAVA_HOME/bin/java"
[ -x "$java" ] || fail "$java is not executable (JAVA_HOME=$JAVA_HOME)"

# ---------------------------------------------------------------------------------------------- fetch
if [ ! -f "$jars/.complete" ]; then
  command -v mvn >/dev/null 2>&1 || fail "Maven (mvn) is not on PATH; install it (Debian: maven) and run again"
  mkdir -p "$home"
  pom="$home/pom.xml"
  {
    echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
    echo '<groupId>local.ardea</groupId><artifactId>yarn-jars</artifactId><version>1</version><packaging>pom</packaging>'
    echo '<dependencies>'
    for a in hadoop-yarn-server-resourcemanager hadoop-yarn-server-nodemanager hadoop-yarn-services-core \
      hadoop-yarn-services-api hadoop-yarn-server-timelineservice hadoop-common hadoop-hdfs-client hadoop-hdfs; do
      echo "<dependency><groupId>org.apache.hadoop</groupId><artifactId>$a</artifactId><version>$hadoop_version</version></dependency>"
    done
    echo '</dependencies></project>'
  } >"$pom"
  say "fetching Hadoop $hadoop_version jars with Maven into $jars (minutes on a cold cache; log $home/fetch.log)"
  started=$(now)
  rm -rf "$jars.partial"
  if ! mvn -B -f "$pom" -Dmaven.repo.local="$home/m2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$jars.partial" >"$home/fetch.log" 2>&1; then
    tail -n 30 "$home/fetch.log" >&2
    fail "Maven could not fetch the jars (full output in $home/fetch.log)"
  fi
  rm -rf "$jars"
  mv "$jars.partial" "$jars"
  touch "$jars/.complete"
  say "fetched $(find "$jars" -name '*.jar' | wc -l) jars ($(du -sh "$jars" | cut -f1)) in $(($(now) - started))s"
fi

# --------------------------------------------------------------------------------------------- config
# A daemon that is half up (pid alive but not answering) is restarted from scratch.
for name in nm rm; do
  if alive "$run/$name.pid"; then
    say "$name (pid $(cat "$run/$name.pid")) runs but YARN does not answer; restarting it"
    kill "$(cat "$run/$name.pid")" 2>/dev/null || true
    sleep 3
    if alive "$run/$name.pid"; then kill -9 "$(cat "$run/$name.pid")" 2>/dev/null || true; fi
    rm -f "$run/$name.pid"
  fi
done
rm -rf "$run/services"
mkdir -p "$conf" "$run/logs" "$run/nm-local" "$run/nm-logs" "$run/tmp" "$run/services"

# The JPMS opens that Hadoop's shell scripts add on JDK 17 (the daemons start with plain java -cp).
jpms="-XX:+IgnoreUnrecognizedVMOptions -Djava.net.preferIPv4Stack=true"
for p in java.io java.lang java.lang.reflect java.math java.net java.nio java.text java.util \
  java.util.concurrent java.util.concurrent.atomic java.util.regex java.util.zip sun.nio.ch \
  sun.security.util sun.security.x509; do
  jpms="$jpms --add-opens=java.base/$p=ALL-UNNAMED"
done

site() { # file name value name value ...
  local f="$1"
  shift
  {
    echo '<?xml version="1.0"?>'
    echo '<configuration>'
    while [ $# -gt 0 ]; do
      printf '  <property><name>%s</name><value>%s</value></property>\n' "$1" "$2"
      shift 2
    done
    echo '</configuration>'
  } >"$conf/$f"
}
say "writing $conf (yarn-site.xml, core-site.xml, capacity-scheduler.xml, log4j.properties)"
site core-site.xml \
  fs.defaultFS file:/// \
  hadoop.tmp.dir "$run/tmp" \
  hadoop.registry.zk.quorum "$zk_quorum"
site yarn-site.xml \
  yarn.resourcemanager.hostname 127.0.0.1 \
  yarn.resourcemanager.bind-host 127.0.0.1 \
  yarn.resourcemanager.address 127.0.0.1:8032 \
  yarn.resourcemanager.scheduler.address 127.0.0.1:8030 \
  yarn.resourcemanager.resource-tracker.address 127.0.0.1:8031 \
  yarn.resourcemanager.admin.address 127.0.0.1:8033 \
  yarn.resourcemanager.webapp.address "127.0.0.1:$rm_web_port" \
  yarn.resourcemanager.recovery.enabled false \
  yarn.resourcemanager.connect.retry-interval.ms 1000 \
  yarn.nodemanager.hostname 127.0.0.1 \
  yarn.nodemanager.bind-host 127.0.0.1 \
  yarn.nodemanager.address 127.0.0.1:8041 \
  yarn.nodemanager.localizer.address 127.0.0.1:8040 \
  yarn.nodemanager.webapp.address 127.0.0.1:8042 \
  yarn.nodemanager.container-executor.class org.apache.hadoop.yarn.server.nodemanager.DefaultContainerExecutor \
  yarn.nodemanager.local-dirs "$run/nm-local" \
  yarn.nodemanager.log-dirs "$run/nm-logs" \
  yarn.nodemanager.resource.memory-mb "$nm_memory" \
  yarn.nodemanager.resource.cpu-vcores "$nm_vcores" \
  yarn.nodemanager.vmem-check-enabled false \
  yarn.nodemanager.pmem-check-enabled false \
  yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage 99.0 \
  yarn.nodemanager.delete.debug-delay-sec 0 \
  yarn.scheduler.minimum-allocation-mb 64 \
  yarn.scheduler.maximum-allocation-mb "$max_alloc" \
  yarn.scheduler.maximum-allocation-vcores "$nm_vcores" \
  yarn.webapp.api-service.enable true \
  yarn.is.minicluster true \
  yarn.service.base.path "$run/services" \
  yarn.service.upgrade.enabled true \
  yarn.service.am-resource.memory 512 \
  yarn.service.am.java.opts "-Xmx256m $jpms" \
  yarn.service.readiness-check-interval.seconds 2 \
  yarn.service.container-failure.retry-interval-ms 2000 \
  yarn.timeline-service.enabled false \
  yarn.log-aggregation-enable false
site capacity-scheduler.xml \
  yarn.scheduler.capacity.root.queues default \
  yarn.scheduler.capacity.root.default.capacity 100 \
  yarn.scheduler.capacity.root.default.maximum-capacity 100 \
  yarn.scheduler.capacity.root.default.state RUNNING \
  yarn.scheduler.capacity.root.default.acl_submit_applications '*' \
  yarn.scheduler.capacity.maximum-am-resource-percent 0.5
printf '%s\n' 'log4j.rootLogger=INFO,console' \
  'log4j.appender.console=org.apache.log4j.ConsoleAppender' \
  'log4j.appender.console.layout=org.apache.log4j.PatternLayout' \
  'log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{1}: %m%n' \
  'log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR' >"$conf/log4j.properties"

classpath="$conf:$jars/*"

stop_hint=scripts/yarn-down.sh
# shellcheck source-path=SCRIPTDIR source=lib/waits.sh
. "$(dirname "$0")/lib/waits.sh"

start() { # name heap main-class
  local name="$1" heap="$2" main="$3"
  say "starting $name ($main, log $run/$name.log)"
  # setsid: each daemon leads its own process group; the NM's containers are its children.
  # shellcheck disable=SC2086 # $jpms is a list of options
  setsid nohup "$java" $jpms -Xmx"$heap" -Dhadoop.log.dir="$run/logs" -Dyarn.log.dir="$run/logs" \
    -Dhadoop.home.dir="$run" -Dhadoop.id.str="$user" -cp "$classpath" "$main" \
    >"$run/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
}

rm_up() { curl -sf --max-time 3 "$rm_url/ws/v1/cluster/info" 2>/dev/null | grep -q '"state":"STARTED"'; }

started_all=$(now)
# Both at once: the NM retries registering every second until the RM listens.
start rm "$rm_heap" org.apache.hadoop.yarn.server.resourcemanager.ResourceManager
start nm "$nm_heap" org.apache.hadoop.yarn.server.nodemanager.NodeManager
await_ready rm "$(cat "$run/rm.pid")" "REST API at $rm_url" rm_up
await_ready rm "$(cat "$run/rm.pid")" "Services API at $rm_url/app/v1/services" api_answers
await_ready nm "$(cat "$run/nm.pid")" "node RUNNING in $rm_url/ws/v1/cluster/nodes" node_running
say "YARN $hadoop_version is up in $(($(now) - started_all))s (RM pid $(cat "$run/rm.pid"), NM pid $(cat "$run/nm.pid"), user $user, run $run)"
echo "YARN_RM=$rm_url"
