#!/usr/bin/env bash
# What a node that crashes a few seconds after its start does to a rolling
# restart under each --healthy-for (the soak a restarted node must stay
# ready before the next node), on a kept demo cluster (3 local nodes,
# pidfile mode, JetStream on, no supervisor to start a dead server again):
#
#  - clean runs: `natsops restart --mode fast --yes --healthy-for S`, wall
#    time start to exit;
#  - crash runs: the same, and this harness kills (SIGKILL) the first
#    restarted node's new server CRASH seconds after natsops reports its
#    start step. Outcome per run: "caught" (natsops stopped at the crashed
#    node, exit 3, the nodes after it untouched), "stopped-later" (natsops
#    had recorded the crashed node done and moved on, and noticed only at
#    a later node's gate: "failed=[NODE ready]" means that node had been
#    stopped while the crashed one was dead, two down at once), or
#    "missed" (natsops said ok and exited 0; the node died after).
#    Between runs the crashed node is started again with natsops restart
#    --node N --force --yes.
#
#   bench/crash-after-start.sh [RUNS] [CRASH] [SOAKS]   # default 5, 3, "100ms 5s 10s"
#
# Prints every run, then per soak the outcomes and the medians. Needs jq, bc.
#
# Measured 2026-12-07 on a 2-core VM shared with other work (5 runs, kill
# 3s after start; then 3 runs, kill 7s after start), clean rollout medians
# and outcomes:
#   100ms  6.79s   3s: 5 stopped-later (4 at the next node's ready: two down)
#   5s     19.36s  3s: 5 caught (median 4.02s)   7s: 3 stopped-later (next node's steady)
#   10s    34.80s  3s: 5 caught (median 3.35s)   7s: 3 caught (median 7.36s)
# Figures: docs/rollouts.md "Why --healthy-for defaults to 10s".
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
crash=${2:-3}
soaks=${3:-100ms 5s 10s}
go build -o bin/natsops ./cmd/natsops
bin=$PWD/bin/natsops
tmp=$(mktemp -d)
dir=
cleanup() {
	if [ -n "$dir" ] && [ -d "$dir" ]; then "$bin" demo --stop "$dir" >/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

(cd "$tmp" && "$bin" demo --keep -o json >"$tmp/keep.json")
dir=$(tail -1 "$tmp/keep.json" | jq -r .dir)
inv=$dir/natsops.toml
healthy() { until "$bin" -i "$inv" status >/dev/null 2>&1; do sleep 0.2; done; }
# recover: start every node that does not serve (the product's own way).
recover() {
	local n
	for n in $("$bin" -i "$inv" status -o json 2>/dev/null | jq -r '.nodes[] | select(.health != "ok") | .node'); do
		"$bin" -i "$inv" restart --node "$n" --force --yes --mode fast >/dev/null 2>&1 || true
	done
	healthy
}

# run SOAK CRASH?: prints "seconds exit outcome detail".
run() {
	local soak=$1 crash_it=$2 t0 t1 pid code node out=$tmp/run.json
	: >"$out"
	healthy
	t0=$(now)
	"$bin" -i "$inv" restart --mode fast --yes --healthy-for "$soak" -o json >"$out" 2>/dev/null &
	pid=$!
	node=
	if [ "$crash_it" = 1 ]; then
		until node=$(grep -m1 '"step":"start","result":"ok"' "$out" | jq -r .node) && [ -n "$node" ]; do sleep 0.02; done
		sleep "$crash"
		kill -9 "$(cat "$dir/$node.pid")" 2>/dev/null || true
	fi
	code=0
	wait "$pid" || code=$?
	t1=$(now)
	local failed outcome
	failed=$(grep '"result":"failed"' "$out" | head -1 | jq -r '"\(.node) \(.step)"' || true)
	if [ "$crash_it" = 0 ]; then
		outcome=clean
	elif [ "$code" = 0 ]; then
		outcome=missed
	elif [ "${failed%% *}" = "$node" ]; then
		outcome=caught
	else
		outcome=stopped-later
	fi
	printf '%.3f %s %s crashed=%s failed=[%s] done=%s\n' "$(echo "$t1 - $t0" | bc)" "$code" "$outcome" "${node:--}" "$failed" \
		"$(tail -1 "$out" | jq -c .done)"
	recover
}

for soak in $soaks; do
	: >"$tmp/clean" && : >"$tmp/crash"
	for i in $(seq "$runs"); do
		r=$(run "$soak" 0)
		echo "soak $soak clean run $i: $r"
		echo "$r" >>"$tmp/clean"
		r=$(run "$soak" 1)
		echo "soak $soak crash run $i (kill ${crash}s after start): $r"
		echo "$r" >>"$tmp/crash"
	done
	printf 'soak %s: clean rollout median %.3fs; crash %ss after start: %s; crash runs median %.3fs\n' "$soak" \
		"$(cut -d' ' -f1 "$tmp/clean" | median)" "$crash" \
		"$(cut -d' ' -f3 "$tmp/crash" | sort | uniq -c | awk '{printf "%s%s %s", (NR>1?", ":""), $1, $2}')" \
		"$(cut -d' ' -f1 "$tmp/crash" | median)"
done
