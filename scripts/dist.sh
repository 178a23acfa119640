#!/usr/bin/env bash
# make dist: release archives (linux, darwin; amd64, arm64) with checksums
# and .deb/.rpm packages (linux amd64, arm64) in dist/, with GoReleaser
# (.goreleaser.yaml) in snapshot mode: works on a clone with no tags, and
# publishes nothing.
#
# GoReleaser is not a dependency of natsops's go.mod (its module graph is
# several hundred modules): it is installed once from the Go module proxy
# into a cache outside the repository,
#   ${NATSOPS_TOOLS:-${XDG_CACHE_HOME:-~/.cache}/natsops/tools}/goreleaser-VERSION/goreleaser
# and reused by every later run and every clone. After that, and after the
# build's own modules are in the module cache (go mod download), the build
# is offline: GoReleaser runs in a network namespace of its own with no
# network at all when this machine allows one (root: unshare --net), so a
# step that tried to reach GitHub or anything else would fail here.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "dist: $*" >&2; }
GO=${GO:-go}
GORELEASER_VERSION=${GORELEASER_VERSION:-v2.17.0}
tools=${NATSOPS_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/natsops/tools}
bin=$tools/goreleaser-$GORELEASER_VERSION/goreleaser

if [ ! -x "$bin" ]; then
  log "installing goreleaser $GORELEASER_VERSION into $(dirname "$bin") (once; from the Go module proxy)"
  t0=$(date +%s)
  mkdir -p "$tools"
  tmp=$(mktemp -d "$tools/.goreleaser-install.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  GOBIN=$tmp "$GO" install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
  mkdir -p "$(dirname "$bin")"
  mv "$tmp/goreleaser" "$bin"
  log "goreleaser installed in $(( $(date +%s) - t0 ))s"
fi

# The modules the build needs, while the proxy is reachable.
"$GO" mod download

# GoReleaser throws away the whole git state (commit, date) and builds
# with commit "none" when `git ls-remote --get-url` fails, as it does in a
# clone or worktree without a remote. Give it this repository as the URL,
# in its environment only (the URL is not used: nothing is published).
if [ -z "$(git remote 2>/dev/null)" ]; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0="$PWD"
fi

offline=()
if unshare --net true 2>/dev/null; then
  offline=(unshare --net --)
  log "building with no network (unshare --net)"
else
  log "cannot make a network namespace here (not root?): building without one; the build reaches nothing by itself"
fi
t0=$(date +%s)
"${offline[@]}" "$bin" release --snapshot --clean
log "dist/ built in $(( $(date +%s) - t0 ))s:"
ls -l dist/*.tar.gz dist/*.deb dist/*.rpm dist/checksums.txt >&2
