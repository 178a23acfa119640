#!/usr/bin/env bash
# Make sure the local apt repository the bare nodes install nats-server
# from exists, and print its directory on stdout.
#
# The testbed network is --internal: the nodes cannot reach Debian's
# mirrors. So the .deb files of nats-server and of everything it depends on
# are fetched here, on the host, with `apt-get download` (the host's own
# apt: it must be the nodes' release, bookworm), and indexed as a flat
# repository (Packages, Release) that the bare image carries as a file:
# source. apt-get on a bare node then does a real install, resolving and
# unpacking from that repository, with the package's own maintainer scripts.
#
# Cached in out/apt-repo, keyed by this script's content; progress on stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
repo="$out/apt-repo"
PACKAGE=nats-server
SUITE=bookworm
log() { echo "apt-repo: $*" >&2; }

stamp=".natsops-$( (cat "$0"; dpkg --print-architecture) | sha256sum | cut -c1-12)"
if [ -f "$repo/$stamp" ]; then
  echo "$repo"
  exit 0
fi

. /etc/os-release
if [ "${VERSION_CODENAME:-}" != "$SUITE" ]; then
  log "this host's apt is ${PRETTY_NAME:-unknown}, the nodes are Debian $SUITE: its packages would not fit them"
  log "run the testbed build on a Debian $SUITE host"
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  log "needs root (apt-get update when the host's package index lacks $PACKAGE)"
  exit 1
fi
policy=$(apt-cache policy "$PACKAGE" 2>/dev/null || true)
if ! printf '%s\n' "$policy" | grep -q 'Candidate: [0-9]'; then
  log "the host's package index has no $PACKAGE: apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
fi

# The package and its whole dependency closure (virtual packages, shown as
# <name>, are provided by real ones in the list). apt on the node takes only
# what is missing there.
pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "$PACKAGE" | grep -v -e '^ ' -e '^<' | sort -u)
tmp="$repo.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
log "apt-get download $PACKAGE and $(( $(echo "$pkgs" | wc -l) - 1 )) dependencies"
(cd "$tmp" && apt-get -q -o APT::Sandbox::User=root download $pkgs >&2)

# A flat repository: every package's control fields plus where it is.
(cd "$tmp"
 for deb in *.deb; do
   dpkg-deb -f "$deb"
   printf 'Filename: ./%s\nSize: %s\nSHA256: %s\n\n' "$deb" "$(stat -c %s "$deb")" "$(sha256sum "$deb" | cut -c1-64)"
 done > Packages
 printf 'Origin: natsops-testbed\nLabel: natsops-testbed\nSuite: %s\nDate: %s\nArchitectures: %s all\nSHA256:\n %s %s Packages\n' \
   "$SUITE" "$(LC_ALL=C date -u -R)" "$(dpkg --print-architecture)" "$(sha256sum Packages | cut -c1-64)" "$(stat -c %s Packages)" > Release
 touch "$stamp")
rm -rf "$repo"
mv "$tmp" "$repo"
log "$(ls "$repo"/*.deb | wc -l) packages in $repo"
echo "$repo"
