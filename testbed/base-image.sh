#!/usr/bin/env bash
# Make sure a base image for the node image exists and print its name.
#
#   BASE_IMAGE unset  -> use debian:bookworm-slim if present or pullable,
#                        else build natsops-testbed-base:<hash> locally with
#                        debootstrap + docker import (offline path).
#   BASE_IMAGE=local  -> always use the local debootstrap image.
#   BASE_IMAGE=other  -> use that image as is (pulled if missing).
#
# The local image already contains every package the node image needs, so the
# Dockerfile's apt-get step is skipped and the build needs no network. It is
# cached in the Docker engine under a tag derived from this script's content:
# it is rebuilt only when this script (package list, suite, mirror) changes.
# All progress goes to stderr; stdout is only the image name.
set -euo pipefail

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
# Keep in sync with NODE_PACKAGES in Dockerfile.
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,sudo,procps,iproute2,curl,ca-certificates,nats-server,less
DEFAULT_BASE=debian:bookworm-slim

log() { echo "base-image: $*" >&2; }

here=$(cd "$(dirname "$0")" && pwd)
hash=$( (cat "$0"; echo "$MIRROR") | sha256sum | cut -c1-12)
LOCAL_TAG=natsops-testbed-base:$hash

have() { docker image inspect "$1" >/dev/null 2>&1; }

build_local() {
  if have "$LOCAL_TAG"; then
    log "using cached $LOCAL_TAG"
    echo "$LOCAL_TAG"
    return
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap with apt-get"
    if [ "$(id -u)" -ne 0 ]; then
      log "need root to install debootstrap and run it"; exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "debootstrap needs root"; exit 1
  fi
  root=$(mktemp -d /tmp/natsops-testbed-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  log "debootstrap $SUITE into $root (packages: $PACKAGES)"
  start=$(date +%s)
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >&2 \
    || { log "debootstrap failed; see $root/debootstrap/debootstrap.log"; tail -20 "$root/debootstrap/debootstrap.log" >&2 || true; exit 1; }
  # Slim it down like the official slim image: no apt cache, docs, man pages.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
         "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  # Standard apt sources so the image is usable with apt later.
  printf 'deb %s %s main\n' "$MIRROR" "$SUITE" > "$root/etc/apt/sources.list"
  log "docker import as $LOCAL_TAG"
  tar -C "$root" -c . | docker import \
      -c 'CMD ["/bin/bash"]' \
      -c 'LABEL natsops-testbed=base' \
      - "$LOCAL_TAG" >&2
  log "base image built in $(( $(date +%s) - start ))s"
  echo "$LOCAL_TAG"
}

case "${BASE_IMAGE:-}" in
  local)
    build_local ;;
  "")
    if have "$DEFAULT_BASE"; then
      echo "$DEFAULT_BASE"
    elif timeout 60 docker pull "$DEFAULT_BASE" >&2 2>/dev/null; then
      echo "$DEFAULT_BASE"
    else
      log "$DEFAULT_BASE absent and not pullable: using a local debootstrap base"
      build_local
    fi ;;
  *)
    have "$BASE_IMAGE" || docker pull "$BASE_IMAGE" >&2
    echo "$BASE_IMAGE" ;;
esac
