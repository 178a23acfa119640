#!/usr/bin/env bash
# Rolling restart of a whole estate against the sum of its clusters'
# restarts: natsops demo --supercluster --keep leaves the demo's estate
# (east and west, 3 nodes each, joined by gateways; edge, a leaf node of
# east) running on this machine, then per run:
#   one:   natsops restart --mode fast --yes            (every cluster, in
#          the estate order: edge, the other hub, the meta leader's hub)
#   split: natsops restart --mode fast --yes --cluster C, for each cluster
#          in the same order, timed separately and summed
# Prints every run, the medians and the ratio one / split (target <= 1.1:
# going across the estate costs the one extra meta-leader reading that
# orders the clusters, nothing per node).
#
#   bench/estate-restart.sh [RUNS]     # default 3
#
# Measured 2026-12-04 on a 2-core VM (embedded nats-server 2.15.2, no
# clients), 3 runs: across the estate median 14.224s, sum of the
# per-cluster restarts 19.517s, ratio 0.729 (each separate run pays its
# own start, preflight and settle after the previous cluster's meta
# leader moved; the run across the estate goes on as soon as the last
# node of a cluster stayed ready).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
go build -o bin/natsops ./cmd/natsops
dir=$(bin/natsops demo --supercluster --keep -o json | jq -r 'select(.event == "result") | .dir')
trap 'bin/natsops demo --stop "$dir" >/dev/null 2>&1 || true' EXIT
inv=$dir/natsops.toml
now() { date +%s.%N; }
healthy() {
	local i
	for i in $(seq 300); do
		bin/natsops -i "$inv" status --monitor-only >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "estate not healthy after 60s" >&2
	return 1
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ones=() splits=()
for i in $(seq "$runs"); do
	healthy
	t0=$(now)
	out=$(bin/natsops -i "$inv" restart --mode fast --yes -o json)
	t1=$(now)
	order=$(jq -r 'select(.event == "cluster" and .index == 1) | .order | join(" ")' <<<"$out")
	one=$(echo "$t1 - $t0" | bc)
	split=0
	for c in $order; do
		healthy
		t0=$(now)
		bin/natsops -i "$inv" restart --mode fast --yes --cluster "$c" >/dev/null
		t1=$(now)
		split=$(echo "$split + $t1 - $t0" | bc)
	done
	ones+=("$one") splits+=("$split")
	printf 'run %d: across the estate %.3fs, sum of per-cluster restarts %.3fs (order: %s)\n' "$i" "$one" "$split" "$order"
done
mo=$(printf '%s\n' "${ones[@]}" | median)
ms=$(printf '%s\n' "${splits[@]}" | median)
printf 'median of %d: across %.3fs  sum %.3fs  ratio %.3f\n' "$runs" "$mo" "$ms" "$(echo "$mo / $ms" | bc -l)"
