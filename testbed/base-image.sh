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
# cached in the Docker engine under a tag derived from its inputs
# (debootstrap-image.sh, the package list, suite, mirror): it is rebuilt
# only when one of them changes.
# All progress goes to stderr; stdout is only the image name.
set -euo pipefail

# Keep in sync with NODE_PACKAGES in Dockerfile.
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,sudo,procps,iproute2,curl,ca-certificates,nats-server,less
DEFAULT_BASE=debian:bookworm-slim

log() { echo "base-image: $*" >&2; }

here=$(cd "$(dirname "$0")" && pwd)

have() { docker image inspect "$1" >/dev/null 2>&1; }

# natsops-testbed-base:<hash>, built by debootstrap-image.sh (cached by a
# hash of its inputs, the package list among them).
build_local() {
  "$here/debootstrap-image.sh" natsops-testbed-base natsops-testbed=base "$PACKAGES" slim
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
