#!/usr/bin/env bash
# Checks the YARN that yarn-up.sh started through the YARN Services REST API, with curl as an
# independent client (node only parses the JSON): creates a service with one component of 2
# instances running `sleep 600`, waits until both instances are READY and finds their two `sleep`
# processes on this machine (by an environment variable the service sets, whose value carries
# ${COMPONENT_ID}, so each process also proves its instance index); restarts instance s-1 alone by
# signalling its container through the RM's REST API (the service AM relaunches the same instance
# in a new container); flexes the component to 3 and waits for s-2, then back to 2 and checks that
# s-2 (the highest index) went; stops the service, destroys it
# and checks that its processes are gone and the RM calls the application finished. Prints each
# step and its time; exits non-zero, with the reason and the last response, at the first step that
# does not happen in time. The service is destroyed on exit whatever happens.
#
# Measured on a 2-core, 24 GB development machine (Hadoop 3.4.2, OpenJDK 17): about 32 s in all —
# POST to both instances READY 14-16 s (the service AM is a JVM), restart of s-1 4-6 s, flex to 3
# 7 s, back to 2 4 s, stop until no process 2 s, DELETE 0.2 s.
#
# Environment:
#   YARN_RM            RM base URL (default http://127.0.0.1:${YARN_RM_PORT:-8088})
#   YARN_USER          user.name for simple auth (default: this user)
#   YARN_SMOKE_TIMEOUT seconds to wait for each step (default 90)
set -euo pipefail

rm_url="${YARN_RM:-http://127.0.0.1:${YARN_RM_PORT:-8088}}"
user="${YARN_USER:-$(id -un)}"
timeout_s="${YARN_SMOKE_TIMEOUT:-90}"
service="ardea-smoke-$$"
api="$rm_url/app/v1/services"
auth="user.name=$user"
t0=$(date +%s%N)

say() { echo "[yarn-smoke] +$((($(date +%s%N) - t0) / 1000000))ms $*"; }
fail() { echo "[yarn-smoke] error: $*" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || fail "curl is not on PATH"
command -v node >/dev/null 2>&1 || fail "node is not on PATH (it parses the JSON answers)"

last=""
# call METHOD URL [BODY]: sets $last to the body and $code to the HTTP status.
call() {
  local out
  if [ $# -ge 3 ]; then
    out="$(curl -s --max-time 30 -X "$1" -H 'Content-Type: application/json' -d "$3" -w '\n%{http_code}' "$2")" || true
  else
    out="$(curl -s --max-time 30 -X "$1" -w '\n%{http_code}' "$2")" || true
  fi
  code="${out##*$'\n'}"
  last="${out%$'\n'*}"
}
expect() { # expected-code what
  [ "$code" = "$1" ] || fail "$2: HTTP $code (expected $1): $last"
}

# One line summarising a Service JSON: "<service state> <instance>=<container state>/<container id> ...".
summary() {
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      try {
        const j = JSON.parse(s), out = [j.state];
        for (const c of j.components || []) for (const k of c.containers || [])
          out.push(`${k.component_instance_name}=${k.state}/${k.id}`);
        console.log(out.sort().join(" "));
      } catch { console.log("unparsable"); }
    });'
}
status() { call GET "$api/$service?$auth"; printf '%s' "$last" | summary; }
ready_count() { status | grep -o '=READY/' | wc -l | tr -d ' '; }

# Processes of this service: pid and instance index (ARDEA_SMOKE_INDEX) of each `sleep`.
processes() {
  local p
  for p in $(pgrep -x sleep || true); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^ARDEA_SMOKE_SERVICE=$service\$" || continue
    echo "$p:$(tr '\0' '\n' <"/proc/$p/environ" | sed -n 's/^ARDEA_SMOKE_INDEX=//p')"
  done | sort -t: -k2
}
process_count() { processes | wc -l | tr -d ' '; }

# shellcheck source-path=SCRIPTDIR source=lib/waits.sh
. "$(dirname "$0")/lib/waits.sh"
wait_context() { echo "last status: $(status)"; }

cleanup() { curl -s --max-time 30 -X DELETE "$api/$service?$auth" >/dev/null 2>&1 || true; }
trap cleanup EXIT

call GET "$api/version?$auth"
expect 200 "GET /app/v1/services/version"
say "Services API at $api answers: $last"

# shellcheck disable=SC2016 # ${COMPONENT_ID} is for YARN to substitute
spec='{"name":"'"$service"'","version":"1","lifetime":-1,
  "components":[{"name":"s","number_of_containers":2,"restart_policy":"ALWAYS",
    "resource":{"cpus":1,"memory":"128"},"launch_command":"sleep 600",
    "configuration":{"env":{"ARDEA_SMOKE_SERVICE":"'"$service"'","ARDEA_SMOKE_INDEX":"${COMPONENT_ID}"}}}]}'
call POST "$api?$auth" "$spec"
expect 202 "POST /app/v1/services"
say "created service $service: $last"
app_id="$(printf '%s' "$last" | sed -n 's/.*Application ID: \(application_[0-9_]*\).*/\1/p')"

wait_for "2 instances READY" 2 ready_count
say "both instances READY: $(status)"
wait_for "2 sleep processes" 2 process_count
say "processes (pid:index): $(processes | tr '\n' ' ')"
[ "$(processes | cut -d: -f2 | tr '\n' ' ')" = "0 1 " ] || fail "instance indexes are not 0 and 1: $(processes | tr '\n' ' ')"

old="$(status | tr ' ' '\n' | sed -n 's|^s-1=READY/||p')"
old_pid="$(processes | sed -n 's/:1$//p')"
call POST "$rm_url/ws/v1/cluster/containers/$old/signal/FORCEFUL_SHUTDOWN?$auth"
expect 200 "POST /ws/v1/cluster/containers/$old/signal/FORCEFUL_SHUTDOWN"
say "signalled s-1's container $old (pid $old_pid) FORCEFUL_SHUTDOWN"
s1_replaced() { local s; s="$(status)"; case "$s" in *"s-1=READY/$old"*) echo old ;; *"s-1=READY/"*) echo new ;; *) echo none ;; esac; }
wait_for "s-1 relaunched in a new container" new s1_replaced
wait_for "2 sleep processes after the restart" 2 process_count
new_pid="$(processes | sed -n 's/:1$//p')"
if [ -z "$new_pid" ] || [ "$new_pid" = "$old_pid" ]; then fail "s-1's process did not change (old $old_pid, new $new_pid)"; fi
say "s-1 relaunched alone: $(status); processes $(processes | tr '\n' ' ')"

call PUT "$api/$service/components/s?$auth" '{"number_of_containers":3}'
expect 200 "PUT /app/v1/services/$service/components/s"
say "flex to 3: $last"
wait_for "3 instances READY" 3 ready_count
wait_for "3 sleep processes" 3 process_count
say "three instances READY: $(status); processes $(processes | tr '\n' ' ')"

call PUT "$api/$service/components/s?$auth" '{"number_of_containers":2}'
expect 200 "PUT /app/v1/services/$service/components/s (back to 2)"
say "flex back to 2: $last"
wait_for "2 sleep processes after flexing down" 2 process_count
[ "$(processes | cut -d: -f2 | tr '\n' ' ')" = "0 1 " ] || fail "flexing down did not remove the highest index: $(processes | tr '\n' ' ')"
wait_for "2 instances listed" 2 ready_count
say "s-2 removed, s-0 and s-1 kept: $(status)"

call PUT "$api/$service?$auth" '{"state":"STOPPED"}'
expect 200 "PUT /app/v1/services/$service {state: STOPPED}"
say "stopped: $last"
wait_for "no sleep process after stop" 0 process_count
say "no process left after stop"
call DELETE "$api/$service?$auth"
expect 200 "DELETE /app/v1/services/$service"
say "destroyed: $last"
call GET "$api/$service?$auth"
expect 404 "GET /app/v1/services/$service after DELETE"
app_state() { curl -s --max-time 5 "$rm_url/ws/v1/cluster/apps/$app_id" | sed -n 's/.*"state":"\([A-Z_]*\)".*/\1/p' | head -n 1; }
case "$(app_state)" in
  FINISHED | KILLED | FAILED) ;;
  *) wait_for "application $app_id finished" FINISHED app_state ;;
esac
say "service gone (GET 404), application $app_id $(app_state), no process left; smoke test passed"
