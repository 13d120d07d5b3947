#!/usr/bin/env bash
# Stops the control plane that k8s-up.sh started, by its pid files and in reverse order (scheduler,
# controller-manager, apiserver, etcd): SIGTERM, then SIGKILL after K8S_STOP_TIMEOUT seconds.
# Stopping what is not running is not an error. The built binaries and Go caches stay in the cache,
# so the next k8s-up.sh starts in seconds; etcd's data (every object) stays too unless K8S_PURGE=1.
#
# Environment:
#   ARDEA_CACHE        cache root given to k8s-up.sh (default ~/.cache/ardea)
#   K8S_VERSION        Kubernetes release given to k8s-up.sh (default v1.36.3)
#   K8S_STOP_TIMEOUT   seconds to wait for each component after SIGTERM (default 15)
#   K8S_PURGE=1        delete the run directory (etcd data, keys, kubeconfig, logs) afterwards
set -euo pipefail

cache="${ARDEA_CACHE:-$HOME/.cache/ardea}"
run="$cache/k8s-${K8S_VERSION:-v1.36.3}/run"
stop_timeout="${K8S_STOP_TIMEOUT:-15}"

say() { echo "[k8s-down] $*"; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() { # name
  local name="$1" pid_file="$run/$1.pid" pid deadline
  if ! alive "$pid_file"; then
    say "$name is not running"
    rm -f "$pid_file"
    return 0
  fi
  pid="$(cat "$pid_file")"
  kill "$pid" 2>/dev/null || true
  deadline=$(($(date +%s) + stop_timeout))
  while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) still alive after ${stop_timeout}s; sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  say "$name (pid $pid) stopped"
}

for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$name"; done

if [ "${K8S_PURGE:-0}" = 1 ]; then
  rm -rf "$run"
  say "removed $run (K8S_PURGE=1); binaries stay cached"
fi
