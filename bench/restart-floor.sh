#!/usr/bin/env bash
# Rolling restart of the 3 testbed nodes, --mode fast, no clients:
# natsops's wall time against the floor, measured by this plain script on
# the same testbed: per node, `systemctl restart` over an already open SSH
# connection, then curl every 10ms until the node has a new server_id, full
# /healthz ok, routes to every peer, and every peer a route back to it;
# summed over the nodes (followers first, the meta leader last, as natsops
# does). Prints every run, the medians and the ratio.
#
#   bench/restart-floor.sh [RUNS]     # default 5
#
# Measured 2026-11-27 on the 3-node Docker testbed (Debian 2.9.10, JetStream
# on, no clients), 5 runs: floor median 3.106s, natsops --mode fast median
# 3.055s, ratio 0.98. The floor's own polling (curl + jq per check, 10ms
# sleeps) costs about as much as natsops's lock, preflight and per-node SSH
# round trip, so the two are level: natsops adds nothing measurable.
# Measured again 2026-12-04 with the issue-14 gates (--healthy-for 100ms
# default, JetStream check), 7 runs: floor median 2.570s (bimodal: four
# runs 2.50-2.57s, three 3.37-3.67s), natsops median 3.233s, ratio 1.258,
# of which the --healthy-for windows 331ms and the JetStream checks 2ms.
#
# Installs natsops-rendered configs (JetStream, server_name) on the nodes;
# brings the testbed up and tears it down at the end (make testbed-up /
# testbed-down, serialized with other testbed users).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
go build -o bin/natsops ./cmd/natsops
# Hold the testbed lock for the whole benchmark (testbed.sh takes it only
# around up/down), so no other run's `make e2e` tears the nodes down under
# it; testbed.sh itself then gets a private lock file.
exec 9>>"${TESTBED_LOCK:-/tmp/natsops-testbed.lock}"
flock -w 1800 9
own_lock=$(mktemp)
TESTBED_LOCK=$own_lock ./testbed/testbed.sh up >/dev/null
trap 'TESTBED_LOCK=$own_lock ./testbed/testbed.sh down >/dev/null 2>&1; rm -f "$own_lock"' EXIT

inv=testbed/out/inventory.toml
out=testbed/out
nodes=(n1 n2 n3)
declare -A ip=([n1]=10.213.77.11 [n2]=10.213.77.12 [n3]=10.213.77.13)
ctl=$(mktemp -d)
sshn() { # node cmd
	ssh -i $out/id_ed25519 -o UserKnownHostsFile=$out/known_hosts -o StrictHostKeyChecking=yes \
		-o ControlMaster=auto -o ControlPath="$ctl/%h" -o ControlPersist=600 -o LogLevel=ERROR "ops@${ip[$1]}" "$2"
}

# natsops's own configs (server_name, JetStream), installed by hand.
rm -rf "$ctl/render" && bin/natsops -i $inv render --out "$ctl/render" >/dev/null
for n in "${nodes[@]}"; do
	sshn "$n" 'sudo -n tee /etc/nats-server.conf >/dev/null && sudo -n systemctl restart nats-server' <"$ctl/render/$n.conf"
done
healthy() { until bin/natsops -i $inv status >/dev/null 2>&1; do sleep 0.2; done; }
healthy

now() { date +%s.%N; }
j() { curl -s -m 1 "http://${ip[$1]}:8222$2"; }

# ready NODE OLDID: new id, /healthz ok, routes both ways.
ready() {
	local n=$1 old=$2 id p
	[ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "http://${ip[$n]}:8222/healthz")" = 200 ] || return 1
	id=$(j "$n" /varz | jq -r .server_id) || return 1
	[ -n "$id" ] && [ "$id" != "$old" ] && [ "$id" != null ] || return 1
	[ "$(j "$n" /routez | jq '[.routes[].remote_id] | unique | length')" = $((${#nodes[@]} - 1)) ] || return 1
	for p in "${nodes[@]}"; do
		[ "$p" = "$n" ] && continue
		j "$p" /routez | jq -e --arg id "$id" '[.routes[].remote_id] | index($id) != null' >/dev/null || return 1
	done
}

order() {
	local leader
	leader=$(j n1 /jsz | jq -r .meta_cluster.leader)
	for n in "${nodes[@]}"; do [ "$n" = "$leader" ] || echo "$n"; done
	echo "$leader"
}

floor_run() {
	local total=0 n old t0 t1
	for n in $(order); do
		old=$(j "$n" /varz | jq -r .server_id)
		t0=$(now)
		sshn "$n" 'sudo -n systemctl restart nats-server'
		until ready "$n" "$old"; do sleep 0.01; done
		t1=$(now)
		total=$(echo "$total + $t1 - $t0" | bc)
	done
	echo "$total"
}

# natsops_run prints the wall time; the run's events go to $ctl/events.
natsops_run() {
	local t0 t1
	t0=$(now)
	bin/natsops -i $inv restart --mode fast --yes -o json >"$ctl/events"
	t1=$(now)
	echo "$t1 - $t0" | bc
}

# gates STEP: the milliseconds the run's STEP events took, summed over the
# nodes (steady: the --healthy-for window; jetstream: the check before
# each stop).
gates() { jq -s --arg s "$1" '[.[] | select(.step == $s) | .elapsed_ms] | add // 0' "$ctl/events"; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

fl=() na=() st=() js=()
for i in $(seq "$runs"); do
	healthy
	f=$(floor_run)
	healthy
	x=$(natsops_run)
	s=$(gates steady) g=$(gates jetstream)
	fl+=("$f") na+=("$x") st+=("$s") js+=("$g")
	printf 'run %d: floor %.3fs  natsops --mode fast %.3fs  (of which --healthy-for windows %dms, JetStream checks %dms)\n' "$i" "$f" "$x" "$s" "$g"
done
mf=$(printf '%s\n' "${fl[@]}" | median)
mn=$(printf '%s\n' "${na[@]}" | median)
ms=$(printf '%s\n' "${st[@]}" | median)
mj=$(printf '%s\n' "${js[@]}" | median)
printf 'median of %d: floor %.3fs  natsops %.3fs  ratio %.3f  (--healthy-for windows %dms, JetStream checks %dms, over %d nodes)\n' \
	"$runs" "$mf" "$mn" "$(echo "$mn / $mf" | bc -l)" "$ms" "$mj" "${#nodes[@]}"
