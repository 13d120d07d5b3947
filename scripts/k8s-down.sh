#!/usr/bin/env bash
# Stops what k8s-up.sh started, by its pid files: first the node agent (while the API server still
# answers, so it can stop every pod's processes and mark its Node NotReady; SIGKILL after
# K8S_AGENT_STOP_TIMEOUT seconds), then the control plane in reverse order (scheduler,
# controller-manager, apiserver, etcd): SIGTERM, then SIGKILL after K8S_STOP_TIMEOUT seconds.
# Stopping what is not running is not an error. The built binaries and Go caches stay in the cache,
# so the next k8s-up.sh starts in seconds; etcd's data (every object) stays too unless K8S_PURGE=1.
#
# Environment:
#   ARDEA_CACHE        cache root given to k8s-up.sh (default ~/.cache/ardea)
#   K8S_VERSION        Kubernetes release given to k8s-up.sh (default v1.36.3)
#   K8S_STOP_TIMEOUT   seconds to wait for each component after SIGTERM (default 15)
#   K8S_AGENT_STOP_TIMEOUT  seconds to wait for the node agent (default 30: pods get up to 10 s of grace)
#   K8S_PURGE=1        delete the run directory (etcd data, keys, kubeconfig, logs) afterwards
set -euo pipefail

cache="${ARDEA_CACHE:-$HOME/.cache/ardea}"
run="$cache/k8s-${K8S_VERSION:-v1.36.3}/run"
stop_timeout="${K8S_STOP_TIMEOUT:-15}"

say() { echo "[k8s-down] $*"; }
# shellcheck source-path=SCRIPTDIR source=lib/stop-pid-file.sh
. "$(dirname "$0")/lib/stop-pid-file.sh"

stop_pid_file node-agent "$run/node-agent.pid" "${K8S_AGENT_STOP_TIMEOUT:-30}"
for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_pid_file "$name" "$run/$name.pid" "$stop_timeout"; done

if [ "${K8S_PURGE:-0}" = 1 ]; then
  rm -rf "$run"
  say "removed $run (K8S_PURGE=1); binaries stay cached"
fi
