#!/usr/bin/env bash
# natsops check --format prometheus read by a real node_exporter textfile
# collector (Debian's prometheus-node-exporter, unpacked from its .deb, not
# installed, so no service starts; like scripts/realserver.sh does with
# nats-server):
#
# 1. a kept demo cluster's check, written the way the README says (to a
#    temporary file, then renamed into the collector's directory): the
#    collector reads it without a scrape error, and /metrics serves the
#    verdict and every node's series with the figures read on the hosts;
# 2. a check that cannot run (a missing inventory) still leaves a file the
#    collector reads, with natsops_check_status 3.
# node_exporter listens on a free loopback port and is always stopped, so
# is the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
log() { echo "prometheus: $*" >&2; }

exporter=bin/debian/usr/bin/prometheus-node-exporter
if [ ! -x "$exporter" ]; then
	tmpdeb=$(mktemp -d)
	(cd "$tmpdeb" && { apt-get download prometheus-node-exporter >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get download prometheus-node-exporter >/dev/null; }; })
	mkdir -p bin/debian
	dpkg-deb -x "$tmpdeb"/prometheus-node-exporter_*.deb bin/debian
	rm -rf "$tmpdeb"
fi
log "$("$exporter" --version 2>&1 | head -1)"

. scripts/lib/keep-demo.sh
tmp=$(mktemp -d)
demo="" exporter_pid=""
cleanup() {
	# The exporter is killed here: its exit status (143) is not the
	# script's.
	if [ -n "$exporter_pid" ]; then
		kill "$exporter_pid" 2>/dev/null || true
		wait "$exporter_pid" 2>/dev/null || true
	fi
	stop_demos "$tmp/natsops" "$tmp"
	rm -rf "$tmp"
}
trap cleanup EXIT
"$GO" build -o "$tmp/natsops" ./cmd/natsops
natsops=$tmp/natsops
textfile=$tmp/textfile
mkdir -p "$textfile"

# write_check ARGS...: the README's cron line, its exit code kept.
write_check() {
	local rc=0
	"$natsops" check "$@" --format prometheus >"$textfile/natsops.prom.tmp" 2>"$tmp/check.err" || rc=$?
	mv "$textfile/natsops.prom.tmp" "$textfile/natsops.prom"
	echo "$rc"
}

# scrape: node_exporter's /metrics, retried while it starts (bounded).
scrape() {
	local i
	for i in $(seq 1 100); do
		if curl -fsS "http://127.0.0.1:$port/metrics" >"$tmp/metrics.txt" 2>/dev/null; then
			return 0
		fi
		kill -0 "$exporter_pid" 2>/dev/null || { log "node_exporter exited:"; cat "$tmp/exporter.log" >&2; exit 1; }
		sleep 0.1
	done
	log "node_exporter did not answer on 127.0.0.1:$port"
	cat "$tmp/exporter.log" >&2
	exit 1
}

want() {
	if ! grep -qxF "$1" "$tmp/metrics.txt"; then
		log "FAIL: /metrics lacks the line: $1"
		grep -E '^(natsops_|node_textfile)' "$tmp/metrics.txt" >&2 || true
		exit 1
	fi
}

keep_demo "$natsops" "$tmp"

rc=$(write_check -i "$demo/natsops.toml")
[ "$rc" = 0 ] || { log "FAIL: check on the healthy demo exited $rc"; cat "$tmp/check.err" "$textfile/natsops.prom" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$exporter" --collector.disable-defaults --collector.textfile \
	--collector.textfile.directory="$textfile" --web.listen-address="127.0.0.1:$port" >"$tmp/exporter.log" 2>&1 &
exporter_pid=$!
scrape
want 'node_textfile_scrape_error 0'
want 'natsops_check_status 0'
want 'natsops_check_nodes 3'
want 'natsops_check_fds_read_nodes 3'
for n in n1 n2 n3; do
	want "natsops_node_up{cluster=\"local\",node=\"$n\"} 1"
	want "natsops_node_healthy{cluster=\"local\",node=\"$n\"} 1"
	want "natsops_node_routes{cluster=\"local\",node=\"$n\"} 2"
	grep -qE "^natsops_node_fds_open\{cluster=\"local\",node=\"$n\"\} [1-9][0-9]*$" "$tmp/metrics.txt" ||
		{ log "FAIL: no descriptors read on the host for $n"; grep natsops_node_fds "$tmp/metrics.txt" >&2; exit 1; }
done
log "ok: node_exporter serves the healthy demo's check ($(grep -c '^natsops_' "$tmp/metrics.txt") natsops samples, no scrape error)"

# The check cannot run: the file says UNKNOWN and the collector reads it.
rc=$(write_check -i "$tmp/missing.toml")
[ "$rc" = 3 ] || { log "FAIL: check on a missing inventory exited $rc, want 3"; exit 1; }
scrape
want 'node_textfile_scrape_error 0'
want 'natsops_check_status 3'
want 'natsops_check_problem{code="check-failed",node="natsops",severity="unknown"} 1'
if grep -q '^natsops_node_up' "$tmp/metrics.txt"; then
	log "FAIL: the UNKNOWN file still has node series"
	exit 1
fi
log "ok: an UNKNOWN check (exit 3) is read as natsops_check_status 3"
log "PASS"
