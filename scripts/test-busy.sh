#!/usr/bin/env bash
# Runs tests on a busy machine: starts HOGS processes (default 1) that each keep one core busy, runs
# `npx vitest run` with the given arguments (default: the cross-package tests in test/), and stops
# the hogs on exit whatever happens. A hog also stops on its own once this script is gone.
#   bash scripts/test-busy.sh                          # test/ beside one busy core
#   HOGS=2 bash scripts/test-busy.sh test/local-e2e.test.ts
set -euo pipefail
cd "$(dirname "$0")/.."

hogs="${HOGS:-1}"
if ! [[ "$hogs" =~ ^[0-9]+$ ]]; then
  echo "test-busy: HOGS must be a number of processes, got '$hogs'" >&2
  exit 2
fi

hog_pids=()
stop_hogs() {
  for pid in "${hog_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM HUP

# The spinning runs in a worker thread so that the main thread can notice that this script died
# (even of SIGKILL, which runs no trap) and end the hog.
hog='const { Worker } = require("node:worker_threads");
new Worker("for (;;) {}", { eval: true });
const parent = process.ppid;
setInterval(() => { try { process.kill(parent, 0); } catch { process.exit(0); } }, 1000);'
for ((i = 0; i < hogs; i++)); do
  node -e "$hog" &
  hog_pids+=("$!")
done
echo "test-busy: ${hogs} CPU hog(s) running beside the tests (pids: ${hog_pids[*]:-none}); $(nproc) cores"

if [ "$#" -eq 0 ]; then set -- test; fi
started=$(date +%s)
status=0
npx vitest run "$@" || status=$?
echo "test-busy: vitest exited with ${status} after $(($(date +%s) - started)) s with ${hogs} hog(s)"
exit "$status"
