#!/usr/bin/env bash
# Build (or reuse) the testbed node image and print its name on stdout.
#   1. current nats-server binary from go.mod's version (cached in out/)
#   2. base image (testbed/base-image.sh: debian:bookworm-slim or a local
#      debootstrap image when no registry is reachable)
#   3. node image, tagged natsops-testbed-node:<hash of its inputs>, rebuilt
#      only when the Dockerfile, its files, the binary or the base change;
#      natsops-testbed-node:latest points at the current one.
#   4. bare image (testbed/bare/Dockerfile, FROM the node image, without
#      nats-server; apt-repo.sh's local repository as apt's only source),
#      natsops-testbed-bare:<hash> and :latest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out="$here/out"
mkdir -p "$out"
log() { echo "build: $*" >&2; }
GO=${GO:-go}

ver=$(cd "$root" && $GO list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
bin="$out/nats-server-$ver"
build_nats() {
  [ -x "$bin" ] && return 0
  log "building nats-server $ver from the module cache"
  (cd "$root" && CGO_ENABLED=0 $GO build -trimpath -o "$bin.tmp" github.com/nats-io/nats-server/v2)
  mv "$bin.tmp" "$bin"
}
# The binary (CPU) and the base image (mostly network and disk) in parallel.
build_nats & nats_pid=$!
base=$("$here/base-image.sh") || { kill "$nats_pid" 2>/dev/null; wait "$nats_pid" 2>/dev/null; exit 1; }
wait "$nats_pid" || { log "building nats-server $ver failed"; exit 1; }
base_id=$(docker image inspect -f '{{.Id}}' "$base")

ctx="$out/node-context"
rm -rf "$ctx"; mkdir -p "$ctx"
cp -r "$here/node/." "$ctx/"
cp "$bin" "$ctx/nats-server-current"
hash=$( (cd "$ctx" && find . -type f | LC_ALL=C sort | xargs sha256sum; echo "$base_id") | sha256sum | cut -c1-12)
tag="natsops-testbed-node:$hash"
if docker image inspect "$tag" >/dev/null 2>&1; then
  log "node image $tag is up to date"
else
  log "building node image $tag FROM $base"
  # The legacy builder: this engine has no buildx/BuildKit client plugin.
  # A local debootstrap base has every package: build with no network at all.
  net=()
  case "$base" in natsops-testbed-base:*) net=(--network none) ;; esac
  DOCKER_BUILDKIT=0 docker build -q "${net[@]}" --build-arg "BASE=$base" \
      --label natsops-testbed=node -t "$tag" "$ctx" >&2
fi
docker tag "$tag" natsops-testbed-node:latest
# Drop images of earlier inputs (best effort) so the cache does not grow.
stale=$(docker images --format '{{.Repository}}:{{.Tag}}' natsops-testbed-node | grep -v -e ":${tag#*:}\$" -e ':latest$' || true)
[ -z "$stale" ] || docker rmi $stale >/dev/null 2>&1 || true
case "$base" in natsops-testbed-base:*)
  stale=$(docker images --format '{{.Repository}}:{{.Tag}}' natsops-testbed-base | grep -v -e ":${base#*:}\$" || true)
  [ -z "$stale" ] || docker rmi $stale >/dev/null 2>&1 || true ;;
esac
rm -rf "$ctx"

# The bare node (testbed/bare/Dockerfile): the node image without
# nats-server, apt pointed at a local repository of its package. A failure
# here leaves the node image usable; only the provision tests need it.
build_bare() {
  local repo bctx node_id bhash btag
  repo=$("$here/apt-repo.sh") || return 1
  bctx="$out/bare-context"
  rm -rf "$bctx"; mkdir -p "$bctx"
  cp "$here/bare/Dockerfile" "$bctx/"
  cp -r "$repo" "$bctx/apt-repo"
  rm -f "$bctx"/apt-repo/.natsops-*
  node_id=$(docker image inspect -f '{{.Id}}' "$tag")
  bhash=$( (cd "$bctx" && find . -type f | LC_ALL=C sort | xargs sha256sum; echo "$node_id") | sha256sum | cut -c1-12)
  btag="natsops-testbed-bare:$bhash"
  if docker image inspect "$btag" >/dev/null 2>&1; then
    log "bare image $btag is up to date"
  else
    log "building bare image $btag FROM $tag"
    DOCKER_BUILDKIT=0 docker build -q --network none --build-arg "NODE=$tag" \
        --label natsops-testbed=bare -t "$btag" "$bctx" >&2 || return 1
  fi
  docker tag "$btag" natsops-testbed-bare:latest
  stale=$(docker images --format '{{.Repository}}:{{.Tag}}' natsops-testbed-bare | grep -v -e ":${btag#*:}\$" -e ':latest$' || true)
  [ -z "$stale" ] || docker rmi $stale >/dev/null 2>&1 || true
  rm -rf "$bctx"
}
build_bare || log "the bare node image was not built (see above): the provision tests will fail"
echo "$tag"
