#!/usr/bin/env bash
# Builds tools/nomad-api-check, the fidelity check of the Nomad emulator (tools/nomad-emulator) with
# HashiCorp's official Go client github.com/hashicorp/nomad/api, and prints the binary's path as its
# last line. The binary is cached under a key made of the module's go.mod, go.sum and main.go, so
# only the first run after a change of the program (or on a fresh machine) pays for the build; later
# runs print the path at once. Modules come from this machine's Go module proxy with
# -mod=readonly: go.sum pins every module, and the build never rewrites go.mod. Only the api module
# (and its few dependencies) is fetched, never github.com/hashicorp/nomad itself.
#
# Run the check against an emulator (or anything speaking Nomad's HTTP API) with
#   "$(bash scripts/nomad-api-check.sh | tail -n 1)" -address http://127.0.0.1:PORT -token T -workdir DATA_DIR
#
# Cost measured on a 2-core development machine shared with other builds (Go 1.26.8, a fast module
# proxy, load average about 7 during the measurement):
#   cold (empty $ARDEA_CACHE): 53-63 s wall, 38 s of CPU (user) — module downloads take about 1 s, the
#     rest is compiling the standard library's net/http and crypto for the build cache (shared with
#     scripts/k8s-up.sh, so after that script it is much less); peak RSS 0.3 GB; the cache then
#     holds modules 2.7 MB, Go build cache 100 MB, the binary 9.5 MB
#   warm (binary cached): 0.02 s
#
# Environment:
#   ARDEA_CACHE  cache root (default ~/.cache/ardea); the binary lives in
#                $ARDEA_CACHE/nomad-api-check-<hash>/, the Go module and build caches in $ARDEA_CACHE/go/
set -euo pipefail

cache="${ARDEA_CACHE:-$HOME/.cache/ardea}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
module="$repo/tools/nomad-api-check"

say() { echo "[nomad-api-check] $*"; }
fail() { echo "[nomad-api-check] error: $*" >&2; exit 1; }

for f in go.mod go.sum main.go; do
  [ -f "$module/$f" ] || fail "$module/$f is missing"
done
hash="$(cd "$module" && cat go.mod go.sum main.go | sha256sum | cut -c1-16)"
home="$cache/nomad-api-check-$hash"
bin="$home/nomad-api-check"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null 2>&1 || fail "the Go toolchain (go) is not on PATH; install Go >= 1.26 (Debian: golang-go) and run again"
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0

now() { date +%s; }
mkdir -p "$home"
started=$(now)
say "building $module with $(go env GOVERSION) (modules through $(go env GOPROXY); about a minute on a cold cache)"
# Into a temporary name first: an interrupted build must not look cached next time.
if ! go build -C "$module" -trimpath -o "$home/.nomad-api-check.partial" . >"$home/build.log" 2>&1; then
  tail -n 30 "$home/build.log" >&2
  fail "go build failed (full output in $home/build.log)"
fi
mv "$home/.nomad-api-check.partial" "$bin"
took=$(($(now) - started))
echo "nomad-api-check ${took}s $(date -u +%FT%TZ) $(go env GOVERSION)" >>"$home/build-times.txt"
say "built in ${took}s"
echo "$bin"
