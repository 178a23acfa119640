#!/usr/bin/env bash
# Check rendered configs with real nats-server binaries: the version in
# go.mod (built from the module) and Debian bookworm's 2.9.10 (unpacked from
# its .deb, not installed, so nothing starts).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
ver=$(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
new="bin/nats-server-$ver"
if [ ! -x "$new" ]; then
	CGO_ENABLED=0 go build -o "$new" github.com/nats-io/nats-server/v2
fi
servers="$PWD/$new"
deb_bin=bin/debian/usr/sbin/nats-server
if [ ! -x "$deb_bin" ]; then
	if ! command -v apt-get >/dev/null; then
		echo "realserver: no apt-get; checking only $ver" >&2
	else
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		(cd "$tmp" && { apt-get download nats-server >/dev/null 2>&1 || { apt-get update -qq && apt-get download nats-server; }; })
		mkdir -p bin/debian
		dpkg-deb -x "$tmp"/nats-server_*.deb bin/debian
	fi
fi
[ -x "$deb_bin" ] && servers="$servers:$PWD/$deb_bin"
echo "realserver: checking rendered configs with: ${servers//:/ }"
NATSOPS_NATS_SERVERS="$servers" go test -count=1 -run TestRealServerAcceptsRenderedConfigs -v ./pkg/config/ | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|refused|valid$' 
