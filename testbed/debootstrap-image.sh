#!/usr/bin/env bash
# Build (or reuse) a Debian bookworm image without a registry and print its
# name on stdout: debootstrap --variant=minbase into a directory, then
# `docker import`. Used by base-image.sh (the testbed's node base) and
# scripts/pkgtest.sh (a clean system to install the .deb on).
#
#   debootstrap-image.sh NAME LABEL PACKAGES slim|full
#
#   NAME      image repository; the tag is a hash of this script, the
#             arguments and the mirror, so the image is rebuilt exactly when
#             one of them changes and reused otherwise
#   LABEL     key=value label of the image (and so of its containers: the
#             testbed's `down` removes containers labelled natsops-testbed,
#             so an image for anything else must carry another label)
#   PACKAGES  comma-separated, added to minbase (may be empty)
#   slim      remove apt lists and caches, docs, man pages and info, like
#             the official slim image; full keeps them, as on an installed
#             system (dpkg still lists the removed files as owned)
#
# Needs root (debootstrap); installs debootstrap with apt-get if missing.
# All progress goes to stderr.
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 NAME LABEL PACKAGES slim|full" >&2; exit 64; }
NAME=$1 LABEL=$2 PACKAGES=$3 MODE=$4
case "$MODE" in slim|full) ;; *) echo "$0: the 4th argument is slim or full, not $MODE" >&2; exit 64 ;; esac

SUITE=bookworm
# The mirror: DEBIAN_MIRROR, else the host's own Debian mirror (deb822 or
# one-line sources), else deb.debian.org.
host_mirror() {
  { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
    grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'
  } | grep -v -e security -e '^$' | grep '/debian/\?$' | head -1 || true
}
MIRROR=${DEBIAN_MIRROR:-$(host_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

log() { echo "$(basename "$NAME"): $*" >&2; }

hash=$( (cat "$0"; printf '%s\n' "$NAME" "$LABEL" "$PACKAGES" "$MODE" "$SUITE" "$MIRROR") | sha256sum | cut -c1-12)
TAG=$NAME:$hash

if docker image inspect "$TAG" >/dev/null 2>&1; then
  log "using cached $TAG"
  echo "$TAG"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  log "debootstrap needs root"; exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2 \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2; }
fi
root=$(mktemp -d /tmp/natsops-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
include=()
[ -n "$PACKAGES" ] && include=(--include="$PACKAGES")
log "debootstrap $SUITE into $root (minbase${PACKAGES:+ + $PACKAGES})"
start=$(date +%s)
debootstrap --variant=minbase "${include[@]}" "$SUITE" "$root" "$MIRROR" >&2 \
  || { log "debootstrap failed; see $root/debootstrap/debootstrap.log"; tail -20 "$root/debootstrap/debootstrap.log" >&2 || true; exit 1; }
if [ "$MODE" = slim ]; then
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
         "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
else
  # Downloaded packages are not part of an installed system.
  rm -f "$root"/var/cache/apt/archives/*.deb
fi
# Standard apt sources so the image is usable with apt later.
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" > "$root/etc/apt/sources.list"
log "docker import as $TAG"
tar -C "$root" -c . | docker import \
    -c 'CMD ["/bin/bash"]' \
    -c "LABEL $LABEL" \
    - "$TAG" >&2
log "built in $(( $(date +%s) - start ))s"
echo "$TAG"
