#!/usr/bin/env bash
# natsops testbed entry point (the Makefile's testbed-up, testbed-down, e2e).
#   testbed/testbed.sh up [N]     build images if needed, start N nodes (default 3)
#   testbed/testbed.sh bare [N]   start N bare nodes b1.. (no nats-server) beside them
#   testbed/testbed.sh estate     start the estate east-1,2 west-1,2 edge-1 beside them
#   testbed/testbed.sh down       remove all testbed containers and networks
#   testbed/testbed.sh e2e [N]    up, go test -tags e2e ./e2e/..., down (always)
#   testbed/testbed.sh status     SSH + /healthz per node
#   testbed/testbed.sh fault NAME NODE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
GO=${GO:-go}
out=testbed/out
tool=$out/bin/testbed

log() { echo "testbed.sh: $*" >&2; }

build_tool() { $GO build -o "$tool" ./testbed/cmd/testbed; }

# The cut-routes fault runs iptables in a node's network namespace with
# nsenter, from this machine.
host_tools() {
  local missing=()
  command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} with apt-get (the cut-routes fault needs nsenter and iptables)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2; }
}

up() {
  local n=${1:-${NODES:-3}}
  host_tools
  local t0 image
  t0=$(date +%s)
  build_tool
  image=$("$here/build.sh")
  log "images ready in $(( $(date +%s) - t0 ))s: $image"
  "$tool" up -n "$n" -image "$image" -dir "$out"
  log "testbed up in $(( $(date +%s) - t0 ))s total"
}

down() {
  if [ -x "$tool" ]; then "$tool" down; else build_tool && "$tool" down; fi
}

# One testbed per Docker engine: every run uses the same names, subnet and
# labels, and `up` starts by removing what is there. Serialize runs on this
# machine instead of letting them clobber each other.
LOCK=${TESTBED_LOCK:-/tmp/natsops-testbed.lock}
lock() {
  exec 9>>"$LOCK"
  if ! flock -n 9; then
    log "another testbed run holds $LOCK; waiting for it (up to 30 min)"
    flock -w 1800 9 || { log "gave up waiting for $LOCK"; exit 1; }
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in up|bare|estate|down|e2e|fault) lock ;; esac
case "$cmd" in
  up) up "$@" ;;
  bare) build_tool; "$tool" bare -n "${1:-3}" -dir "$out" ;;
  estate) build_tool; "$tool" estate -dir "$out" ;;
  down) down ;;
  status) build_tool; "$tool" status -dir "$out" ;;
  fault) build_tool; "$tool" fault "$@" -dir "$out" ;;
  e2e)
    trap 'rc=$?; trap - EXIT INT TERM; log "tearing down"; down || true; exit $rc' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    t0=$(date +%s)
    up "${1:-${NODES:-3}}"
    NATSOPS_TESTBED_DIR="$root/$out" $GO test -tags e2e -count=1 -timeout 30m ${E2E_FLAGS:-} ./e2e/...
    log "e2e passed in $(( $(date +%s) - t0 ))s (teardown follows)"
    ;;
  *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
