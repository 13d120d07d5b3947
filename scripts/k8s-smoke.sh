#!/usr/bin/env bash
# Checks the cluster that k8s-up.sh started with an independent client (Debian's kubectl, package
# kubernetes-client, installed with apt-get when missing): lists namespaces, checks that a wrong
# token is refused, creates a namespace and a StatefulSet with 2 replicas, waits for the StatefulSet
# controller to create both pods, the scheduler to bind them to the node and the node agent to run
# them (Running, with a pod IP and a live `sleep` process as their container), checks that the
# scheduler calls a pod that asks for more cpu than the node has Unschedulable, deletes the
# StatefulSet and waits for the garbage collector to remove the pods and for the agent to end their
# processes, then deletes the namespace and waits for the namespace controller to finish it. Exits
# non-zero, with the reason, at the first step that does not happen in time.
#
# Environment:
#   KUBECONFIG         kubeconfig to use (default: the one k8s-up.sh writes)
#   ARDEA_CACHE, K8S_VERSION   as for k8s-up.sh, to find that kubeconfig
#   K8S_SMOKE_TIMEOUT  seconds to wait for each step (default 60)
set -euo pipefail

cache="${ARDEA_CACHE:-$HOME/.cache/ardea}"
export KUBECONFIG="${KUBECONFIG:-$cache/k8s-${K8S_VERSION:-v1.36.3}/run/admin.kubeconfig}"
timeout_s="${K8S_SMOKE_TIMEOUT:-60}"
namespace="ardea-smoke-$$"

say() { echo "[k8s-smoke] $*"; }
fail() { echo "[k8s-smoke] error: $*" >&2; exit 1; }

if ! command -v kubectl >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1 || fail "kubectl is not installed and installing it needs root (or sudo)"
  as_root=""
  [ "$(id -u)" = 0 ] || as_root="sudo"
  say "installing kubernetes-client (kubectl) with apt-get"
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi
[ -f "$KUBECONFIG" ] || fail "no kubeconfig at $KUBECONFIG; run scripts/k8s-up.sh first"
say "using $(kubectl version --client 2>/dev/null | head -n 1) with $KUBECONFIG"

# shellcheck source-path=SCRIPTDIR source=lib/waits.sh
. "$(dirname "$0")/lib/waits.sh"
pod_count() { kubectl -n "$namespace" get pods -l app=ardea-smoke -o name | wc -l | tr -d ' '; }
namespace_gone() { kubectl get namespace "$namespace" >/dev/null 2>&1 && echo present || echo gone; }

cleanup() { kubectl delete namespace "$namespace" --ignore-not-found --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

say "namespaces: $(kubectl get namespaces -o jsonpath='{.items[*].metadata.name}')"
denied="$(kubectl --token=ardea-smoke-wrong-token get namespaces 2>&1 || true)"
case "$denied" in
  *Unauthorized*) say "a wrong token is refused: $denied" ;;
  *) fail "a wrong token was not refused with Unauthorized: $denied" ;;
esac
kubectl create namespace "$namespace" >/dev/null
say "created namespace $namespace"

# Parallel: both pods at once (the default OrderedReady waits for pod 0 to be Running and Ready).
kubectl -n "$namespace" apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: smoke
spec:
  replicas: 2
  podManagementPolicy: Parallel
  serviceName: smoke
  selector:
    matchLabels: {app: ardea-smoke}
  template:
    metadata:
      labels: {app: ardea-smoke}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: main
        image: ardea/none
        command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: too-big
spec:
  containers:
  - name: main
    image: ardea/none
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: "100000"}
EOF
say "created StatefulSet smoke (replicas 2)"
wait_for "pods created by the StatefulSet controller" 2 pod_count
pods_state() {
  kubectl -n "$namespace" get pods -l app=ardea-smoke -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}:{.status.phase}:{.status.conditions[?(@.type=="Ready")].status} {end}'
}
wait_for "pods Running and Ready on the node agent" "smoke-0=StatefulSet/smoke:Running:True smoke-1=StatefulSet/smoke:Running:True " pods_state
placed="$(kubectl -n "$namespace" get pods -l app=ardea-smoke \
  -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP} {.status.containerStatuses[0].containerID}{"\n"}{end}')"
say "pods (name node podIP container):"
while read -r line; do say "  $line"; done <<<"$placed"
pids=""
while read -r name node ip container; do
  [ -n "$name" ] || continue
  if [ -z "$node" ] || [ -z "$ip" ]; then fail "pod $name has no node or pod IP"; fi
  pid="${container#ardea://}"
  case "$pid" in '' | *[!0-9]*) fail "pod $name's containerID '$container' does not name a process (ardea://<pid>)" ;; esac
  command="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [ "$command" = "sleep 3600 " ] || fail "pod $name's container process $pid is not 'sleep 3600' but '$command'"
  pids="$pids $pid"
done <<<"$placed"
say "each pod's container is a live 'sleep 3600' process:$pids"

# The scheduler has looked at a pod once it records why it cannot place it.
scheduled() { kubectl -n "$namespace" get pod too-big -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}'; }
wait_for "the scheduler's verdict on pod too-big (asks for 100000 cpus)" Unschedulable scheduled
say "the scheduler reports pod too-big Unschedulable (it asks for more cpu than the node has)"

kubectl -n "$namespace" delete statefulset smoke --wait=false >/dev/null
say "deleted StatefulSet smoke; waiting for the garbage collector to delete its pods"
wait_for "pods removed by the garbage collector" 0 pod_count
say "the garbage collector removed both pods"
live_pids() { local pid left=""; for pid in $pids; do [ -e "/proc/$pid" ] && left="$left $pid"; done; echo "$left"; }
wait_for "the pods' processes ended by the node agent" "" live_pids
say "the node agent ended their processes"

kubectl delete namespace "$namespace" --wait=false >/dev/null
wait_for "namespace $namespace finalized by the namespace controller" gone namespace_gone
trap - EXIT
say "ok: token authentication, StatefulSet, scheduler, node agent, garbage-collector and namespace controllers work"
