#!/usr/bin/env bash
# Starts a real Kubernetes control plane on the loopback interface for the Kubernetes pool's tests:
# etcd, kube-apiserver (token auth, RBAC, ServiceAccount admission), kube-controller-manager (StatefulSet,
# garbage-collection, namespace, service-account and root-CA publisher controllers) and kube-scheduler. The binaries are built once from their published Go
# modules with this machine's Go toolchain and module proxy into a cache keyed by version, so only
# the first run pays for the build. Then the repo's node agent (tools/k8s-node-agent, the kubelet
# stand-in: it registers Node ardea-node and runs the pods bound to it as local processes; built with
# tsc when its dist is missing or older than its sources, so `npm ci` must have run) as the node
# user system:node:ardea-node, and the script waits until that Node is Ready. Running it again while
# everything answers changes nothing.
# Its last line of output is KUBECONFIG=<path> (the admin's token; the cluster CA verifies the server).
#
# The node agent runs as root (each container gets its own mount namespace for its volumes); pods
# get PATH with <repo>/node_modules/.bin first, so they find ardea-executor. Container logs are in
# $run/node-agent/pods/<namespace>_<pod>_<uid>/<container>.log while the pod exists; the agent's own
# in $run/node-agent.log.
#
# Kubernetes' go.mod requires its staging modules (k8s.io/api, client-go, ...) as v0.0.0 replaced by
# ./staging/..., which a consumer cannot see; the wrapper module replaces each with its published
# v0.<minor>.<patch> (the list is read from the tag's own go.mod). etcd gets its own wrapper module so
# its requirements cannot raise the versions Kubernetes pins.
#
# Cost measured on a 2-core, 24 GB development machine (Go 1.26.8, a fast module proxy):
#   cold (empty ~/.cache/ardea): 5 min 52 s wall — go build etcd 41 s, kube-apiserver 211 s,
#     kube-controller-manager 59 s, kube-scheduler 6 s (each later binary reuses the build cache),
#     module downloads about 30 s; the linker peaks at about 2 GB RSS; the cache then holds modules
#     0.75 GB, Go build cache 2.9 GB, binaries 0.4 GB
#   cold again on 2026-12-07 with the node agent: 5 min 6 s until the Node is Ready — etcd 39 s,
#     kube-apiserver 184 s, kube-controller-manager 53 s, kube-scheduler 5 s, modules 16 s; 4.1 GB
#   warm (binaries cached, after k8s-down.sh): 5.5 s until every component answers and the node agent
#     reports ardea-node Ready (the agent takes 1 s of it); k8s-down.sh 8 s
#   again while running: 0.1 s
#   RSS after start and a smoke test: etcd 38 MB, kube-apiserver 266 MB,
#     kube-controller-manager 93 MB, kube-scheduler 66 MB
#
# Environment:
#   ARDEA_CACHE          cache root (default ~/.cache/ardea); binaries, Go caches and the run directory
#                        live in $ARDEA_CACHE/k8s-<version>/ and $ARDEA_CACHE/go/
#   K8S_VERSION          Kubernetes release (default v1.36.3; staging modules at v0.<minor>.<patch>)
#   ETCD_VERSION         etcd release (default v3.7.1)
#   ARDEA_K8S_TOKEN      bearer token of the admin user (group system:masters; default ardea-admin-token)
#   ARDEA_K8S_USER_TOKEN bearer token of ardea-user, who has no rights until bound (default ardea-user-token)
#   ARDEA_K8S_NODE_TOKEN bearer token of the node agent, user system:node:ardea-node in group system:nodes
#   ARDEA_K8S_NODE_CPU, ARDEA_K8S_NODE_MEMORY
#                        what the node reports as capacity (default 16 and 32Gi): more than a 2-core
#                        machine has, so that the requests of the tests' pods, which mostly wait, fit
#                        side by side; the kube-scheduler places pods by requests, not by use
#                        (default ardea-node-token); the Node authorizer and NodeRestriction limit it to
#                        its node, the pods bound to it and what they reference
#   K8S_START_TIMEOUT    seconds to wait for each component to answer (default 120)
#   K8S_FRESH=1          wipe etcd's data (every object) before starting
set -euo pipefail

k8s_version="${K8S_VERSION:-v1.36.3}"
etcd_version="${ETCD_VERSION:-v3.7.1}"
cache="${ARDEA_CACHE:-$HOME/.cache/ardea}"
home="$cache/k8s-$k8s_version"
bin="$home/bin"
run="$home/run"
token="${ARDEA_K8S_TOKEN:-ardea-admin-token}"
user_token="${ARDEA_K8S_USER_TOKEN:-ardea-user-token}"
node_token="${ARDEA_K8S_NODE_TOKEN:-ardea-node-token}"
node_cpu="${ARDEA_K8S_NODE_CPU:-16}"
node_memory="${ARDEA_K8S_NODE_MEMORY:-32Gi}"
node_name=ardea-node
repo="$(cd "$(dirname "$0")/.." && pwd)"
agent_dir="$repo/tools/k8s-node-agent"
start_timeout="${K8S_START_TIMEOUT:-120}"
kubeconfig="$run/admin.kubeconfig"
api_port=6443
etcd_client_port=2379
etcd_peer_port=2380
kcm_port=10257
scheduler_port=10259

say() { echo "[k8s-up] $*"; }
fail() { echo "[k8s-up] error: $*" >&2; exit 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
answers() { curl -skf --max-time 3 -H "Authorization: Bearer $token" "$1" 2>/dev/null | grep -q '^ok'; }

etcd_url="http://127.0.0.1:$etcd_client_port/readyz"
api_url="https://127.0.0.1:$api_port/readyz"
kcm_url="https://127.0.0.1:$kcm_port/healthz"
scheduler_url="https://127.0.0.1:$scheduler_port/healthz"
components=(etcd kube-apiserver kube-controller-manager kube-scheduler node-agent)

# The Node's Ready condition as the API server has it (a user agent other than curl's: no pretty-printing).
node_ready() {
  curl -sf --max-time 3 --cacert "$run/pki/ca.crt" -A ardea-k8s-up -H "Authorization: Bearer $token" \
    "https://127.0.0.1:$api_port/api/v1/nodes/$node_name" 2>/dev/null | grep -q '"type":"Ready","status":"True"'
}

all_answer() {
  local c
  for c in "${components[@]}"; do alive "$run/$c.pid" || return 1; done
  answers "$etcd_url" && answers "$api_url" && answers "$kcm_url" && answers "$scheduler_url" && node_ready
}

if all_answer; then
  say "control plane $k8s_version and node agent already running (apiserver https://127.0.0.1:$api_port, pid $(cat "$run/kube-apiserver.pid"); node $node_name Ready, agent pid $(cat "$run/node-agent.pid"); run $run)"
  echo "KUBECONFIG=$kubeconfig"
  exit 0
fi

# ---------------------------------------------------------------------------------------------- build
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOTOOLCHAIN=local CGO_ENABLED=0
command -v go >/dev/null 2>&1 || fail "the Go toolchain (go) is not on PATH; install Go >= 1.26 (Debian: golang-go) and run again"
command -v openssl >/dev/null 2>&1 || fail "openssl is not on PATH; it generates the service-account keys"
command -v curl >/dev/null 2>&1 || fail "curl is not on PATH; it checks that each component answers"

now() { date +%s; }
build_total=0
built_any=0
# Builds into a temporary name first: an interrupted build must not look cached next time.
build() { # name wrapper-module-directory go-build-arguments...
  local name="$1" module="$2" started took
  shift 2
  started=$(now)
  say "building $name (go build; several minutes on a cold cache)"
  if ! go build -C "$module" -trimpath -o "$bin/.$name.partial" "$@" >"$home/build-$name.log" 2>&1; then
    tail -n 30 "$home/build-$name.log" >&2
    fail "go build of $name failed (full output in $home/build-$name.log)"
  fi
  mv "$bin/.$name.partial" "$bin/$name"
  took=$(($(now) - started))
  build_total=$((build_total + took))
  built_any=1
  say "built $name in ${took}s"
  echo "$name ${took}s $(date -u +%FT%TZ) go$(go env GOVERSION | sed 's/^go//')" >>"$home/build-times.txt"
}

mkdir -p "$bin"
build_started=$(now)
if [ ! -x "$bin/etcd" ]; then
  mkdir -p "$home/mod-etcd"
  (
    cd "$home/mod-etcd"
    [ -f go.mod ] || go mod init ardea.local/etcd >/dev/null 2>&1
    say "resolving go.etcd.io/etcd/server/v3@$etcd_version through $(go env GOPROXY)"
    started=$(now)
    go get -tool "go.etcd.io/etcd/server/v3@$etcd_version" >"$home/get-etcd.log" 2>&1 ||
      { tail -n 30 "$home/get-etcd.log" >&2; fail "go get of etcd $etcd_version failed (full output in $home/get-etcd.log)"; }
    say "resolved etcd's modules in $(($(now) - started))s"
  )
  build etcd "$home/mod-etcd" go.etcd.io/etcd/server/v3
else
  say "etcd $etcd_version is cached ($bin/etcd)"
fi

k8s_binaries=(kube-apiserver kube-controller-manager kube-scheduler)
missing=()
for c in "${k8s_binaries[@]}"; do [ -x "$bin/$c" ] || missing+=("$c"); done
if [ "${#missing[@]}" -gt 0 ]; then
  mkdir -p "$home/mod-k8s"
  (
    cd "$home/mod-k8s"
    if [ ! -f go.mod ]; then
      go mod init ardea.local/k8s >/dev/null 2>&1
      say "reading k8s.io/kubernetes@$k8s_version's go.mod for its staging modules"
      upstream_mod="$(go mod download -json "k8s.io/kubernetes@$k8s_version" | sed -n 's|.*"GoMod": "\(.*\)".*|\1|p')"
      [ -f "$upstream_mod" ] || fail "go mod download of k8s.io/kubernetes@$k8s_version gave no go.mod; is the module proxy ($(go env GOPROXY)) reachable?"
      staging=$(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*|\1|p' "$upstream_mod")
      [ -n "$staging" ] || fail "found no staging replacements in $upstream_mod"
      for m in $staging; do go mod edit -replace "$m=$m@v0.${k8s_version#v1.}"; done
      say "replaced $(echo "$staging" | wc -w) staging modules with their v0.${k8s_version#v1.} releases"
    fi
    started=$(now)
    say "resolving k8s.io/kubernetes@$k8s_version's commands through $(go env GOPROXY)"
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$k8s_version" \
      "k8s.io/kubernetes/cmd/kube-controller-manager@$k8s_version" \
      "k8s.io/kubernetes/cmd/kube-scheduler@$k8s_version" >"$home/get-k8s.log" 2>&1 ||
      { tail -n 30 "$home/get-k8s.log" >&2; fail "go get of Kubernetes $k8s_version failed (full output in $home/get-k8s.log)"; }
    say "resolved Kubernetes' modules in $(($(now) - started))s"
  )
  minor="$(echo "$k8s_version" | cut -d. -f2)"
  # Without these the binaries report v0.0.0, and clients warn about (or refuse) the version skew.
  ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1"
  ldflags="$ldflags -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
  ldflags="$ldflags -X k8s.io/component-base/version.gitTreeState=clean"
  for c in "${missing[@]}"; do build "$c" "$home/mod-k8s" -ldflags "$ldflags" "k8s.io/kubernetes/cmd/$c"; done
else
  say "kube-apiserver, kube-controller-manager, kube-scheduler $k8s_version are cached ($bin)"
fi
[ "$built_any" = 0 ] ||
  say "build total ${build_total}s compiling, $(($(now) - build_started))s with module downloads (per binary in $home/build-times.txt)"

# ------------------------------------------------------------------------------------------------ run
mkdir -p "$run/pki"
if [ ! -f "$run/sa.key" ]; then
  say "generating service-account keys in $run"
  openssl genrsa -out "$run/sa.key" 2048 2>/dev/null
  openssl rsa -in "$run/sa.key" -pubout -out "$run/sa.pub" 2>/dev/null
fi
# Our own CA signs the apiserver's serving certificate, so clients verify it (kubeconfigs carry the CA,
# and the root-CA publisher hands it to pods as kube-root-ca.crt) instead of skipping TLS checks.
if [ ! -f "$run/pki/ca.crt" ] || [ ! -f "$run/pki/apiserver.crt" ]; then
  say "generating a cluster CA and the apiserver's serving certificate in $run/pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ardea-local-ca" \
    -keyout "$run/pki/ca.key" -out "$run/pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$run/pki/apiserver.key" -out "$run/pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
    >"$run/pki/apiserver.ext"
  openssl x509 -req -in "$run/pki/apiserver.csr" -CA "$run/pki/ca.crt" -CAkey "$run/pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$run/pki/apiserver.ext" -out "$run/pki/apiserver.crt" 2>/dev/null
fi
# admin: cluster-admin through system:masters. ardea-user: no rights until bound; the tests and
# docs/kubernetes.md grant it plugins/kubernetes/rbac/ardea-deployer.yaml, as an operator would a user.
echo "$token,admin,admin,system:masters" >"$run/tokens.csv"
echo "$user_token,ardea-user,ardea-user" >>"$run/tokens.csv"
echo "$node_token,system:node:$node_name,system:node:$node_name,system:nodes" >>"$run/tokens.csv"
chmod 600 "$run/tokens.csv" "$run/sa.key" "$run/pki/ca.key" "$run/pki/apiserver.key"
# A kubeconfig for one user with a bearer token; the cluster CA verifies the API server.
write_kubeconfig() { # file user token
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ardea-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $run/pki/ca.crt
users:
- name: $2
  user:
    token: $3
contexts:
- name: ardea-local
  context:
    cluster: ardea-local
    user: $2
    namespace: default
current-context: ardea-local
EOF
  chmod 600 "$1"
}
write_kubeconfig "$kubeconfig" admin "$token"
# The node agent's credentials: a node's, so the Node authorizer, not RBAC, decides what it may do.
write_kubeconfig "$run/node.kubeconfig" "$node_name" "$node_token"

stop_hint=scripts/k8s-down.sh
# shellcheck source-path=SCRIPTDIR source=lib/waits.sh
. "$(dirname "$0")/lib/waits.sh"

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }


start() { # name url port command...
  local name="$1" url="$2" port="$3" pid
  shift 3
  if alive "$run/$name.pid"; then
    pid="$(cat "$run/$name.pid")"
    say "$name is already running (pid $pid)"
  else
    port_taken "$port" && fail "something already listens on 127.0.0.1:$port that this script did not start (no live pid in $run/$name.pid); stop it first"
    nohup "$@" >"$run/$name.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$run/$name.pid"
    say "started $name (pid $pid, log $run/$name.log)"
  fi
  await_ready "$name" "$pid" "answer ok on $url" answers "$url"
}

if [ "${K8S_FRESH:-0}" = 1 ] && ! alive "$run/etcd.pid"; then
  say "wiping $run/etcd (K8S_FRESH=1)"
  rm -rf "$run/etcd"
fi
up_started=$(now)
start etcd "$etcd_url" "$etcd_client_port" "$bin/etcd" --name ardea --data-dir "$run/etcd" --unsafe-no-fsync \
  --listen-client-urls "http://127.0.0.1:$etcd_client_port" --advertise-client-urls "http://127.0.0.1:$etcd_client_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "ardea=http://127.0.0.1:$etcd_peer_port" --log-level warn

# Loopback is refused as the kubernetes Endpoints address by the lease and master-count reconcilers,
# and a machine without a default route has no other address: no reconciler at all.
# NodeRestriction (as kubeadm sets it) limits the node agent to its own Node, Lease and pods.
# TaintNodesByCondition is off: it taints every new Node not-ready, and only node-lifecycle-controller
# (off, see below) lifts that taint; NodeRestriction forbids the node to lift it itself.
start kube-apiserver "$api_url" "$api_port" "$bin/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_client_port" \
  --bind-address=127.0.0.1 --secure-port="$api_port" \
  --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
  --tls-cert-file="$run/pki/apiserver.crt" --tls-private-key-file="$run/pki/apiserver.key" --client-ca-file="$run/pki/ca.crt" \
  --token-auth-file="$run/tokens.csv" --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction --disable-admission-plugins=TaintNodesByCondition --allow-privileged=true \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$run/sa.pub" --service-account-signing-key-file="$run/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24

# node-lifecycle-controller stays off: it taints a node whose heartbeats stop and evicts its pods,
# while tests stop their own node agents on purpose and clean up after themselves.
start kube-controller-manager "$kcm_url" "$kcm_port" "$bin/kube-controller-manager" \
  --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port="$kcm_port" --cert-dir="$run/pki" \
  --root-ca-file="$run/pki/ca.crt" \
  --controllers=statefulset-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,root-ca-certificate-publisher-controller

start kube-scheduler "$scheduler_url" "$scheduler_port" "$bin/kube-scheduler" \
  --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port="$scheduler_port" --cert-dir="$run/pki"

say "control plane $k8s_version is up in $(($(now) - up_started))s (apiserver https://127.0.0.1:$api_port)"

# ------------------------------------------------------------------------------------------ node agent
# tsc -b rewrites only the outputs that change, so its build info, touched after each build, is the stamp.
agent_stamp="$agent_dir/tsconfig.tsbuildinfo"
if [ ! -f "$agent_dir/dist/main.js" ] || [ ! -f "$agent_stamp" ] ||
  [ -n "$(find "$agent_dir/src" -name '*.ts' ! -name '*.test.ts' -newer "$agent_stamp" | head -n 1)" ]; then
  [ -x "$repo/node_modules/.bin/tsc" ] || fail "the node agent is not built and $repo/node_modules/.bin/tsc is missing; run npm ci in $repo first"
  say "building the node agent (tsc -b tools/k8s-node-agent)"
  "$repo/node_modules/.bin/tsc" -b "$agent_dir" || fail "building the node agent failed (tsc -b $agent_dir)"
  touch "$agent_stamp"
fi
agent_pid_file="$run/node-agent.pid"
if alive "$agent_pid_file"; then
  say "node-agent is already running (pid $(cat "$agent_pid_file"))"
else
  command -v node >/dev/null 2>&1 || fail "node is not on PATH; the node agent needs Node.js >= 20.19"
  [ "$(id -u)" = 0 ] || fail "the node agent must run as root: it gives each container its own mount namespace to bind its volumes"
  PATH="$repo/node_modules/.bin:$PATH" nohup node "$agent_dir/bin/ardea-k8s-node-agent.mjs" \
    --kubeconfig "$run/node.kubeconfig" --node-name "$node_name" --state-dir "$run/node-agent" \
    --cpu "$node_cpu" --memory "$node_memory" \
    >"$run/node-agent.log" 2>&1 </dev/null &
  echo $! >"$agent_pid_file"
  say "started node-agent (pid $!, log $run/node-agent.log)"
fi
# A Node left Ready by an agent that died counts only once this agent says it runs. (An agent that
# exits Unauthorized met an API server started by a k8s-up.sh without the node token: run
# k8s-down.sh, then this again.)
agent_ready() { node_ready && grep -q 'node agent for .* running' "$run/node-agent.log" 2>/dev/null; }
await_ready node-agent "$(cat "$agent_pid_file")" "report node $node_name Ready" agent_ready
say "cluster is up in $(($(now) - up_started))s (stop with scripts/k8s-down.sh)"
echo "KUBECONFIG=$kubeconfig"
