#!/usr/bin/env bash
# Wall time of `natsops tune --yes` on 1, 3 and 10 testbed nodes, each run
# from a state that needs changes (managed files removed, a sysctl reset).
# Prints every run and the median per size. Brings up a 10-node testbed
# (make testbed-up NODES=10) and leaves it down at the end.
#
# The testbed's nodes share this machine's cores: on a 2-core machine the
# 10-node figure is bound by the nodes' own CPU (sshd, sudo, systemd
# daemon-reload: about 0.5s of CPU per node), not by natsops, whose own CPU
# for 10 hosts is under 0.1s.
#
#   bench/tune.sh [RUNS]      # default 5
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
go build -o bin/natsops ./cmd/natsops
NODES=10 ./testbed/testbed.sh up >/dev/null
trap './testbed/testbed.sh down >/dev/null 2>&1' EXIT

inv=testbed/out/tune-bench.toml
{
	cat testbed/out/inventory.toml
	printf '\n[tune]\nnofile = 16384\n\n[tune.sysctl]\n'
	# Kernel-wide parameters are this machine's: pinned, never written.
	for k in fs.file-max fs.nr_open; do
		printf '"%s" = "%s"\n' "$k" "$(cat /proc/sys/${k//.//})"
	done
	printf '"net.ipv4.ip_local_port_range" = "20000 60999"\n'
} >"$inv"

reset() { # nodes...
	for n in "$@"; do
		docker exec "natsops-testbed-$n" sh -c "rm -f /etc/sysctl.d/90-natsops.conf* /etc/security/limits.d/90-natsops.conf* /etc/systemd/system/nats-server.service.d/90-natsops.conf*; systemctl daemon-reload; sysctl -q -w net.ipv4.ip_local_port_range='32768 60999' net.ipv4.tcp_max_syn_backlog=2048" &
	done
	wait
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for size in 1 3 10; do
	nodes=$(seq -f 'n%g' 1 "$size" | tr '\n' ' ')
	limit=$(echo $nodes | tr ' ' ',')
	times=()
	for i in $(seq "$runs"); do
		reset $nodes
		start=$(date +%s%N)
		code=0
		./bin/natsops -i "$inv" --limit "$limit" tune --yes >/dev/null 2>/tmp/natsops-bench-tune.err || code=$?
		end=$(date +%s%N)
		if [ "$code" -ne 0 ] && [ "$code" -ne 4 ]; then
			echo "run failed (exit $code):" >&2
			cat /tmp/natsops-bench-tune.err >&2
			exit 1
		fi
		ms=$(( (end - start) / 1000000 ))
		times+=("$ms")
		echo "nodes=$size run=$i ${ms}ms"
	done
	echo "nodes=$size median=$(printf '%s\n' "${times[@]}" | median)ms runs=$runs"
done
