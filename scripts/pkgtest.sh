#!/usr/bin/env bash
# The packages `make dist` built, checked as a user gets them (make pkgtest):
#
#   1. the .rpm files' contents and metadata (rpm -qlp / -qp, Debian's rpm)
#      and the .deb files' architecture and paths (dpkg-deb), arm64 included;
#   2. the amd64 .deb in a clean Debian bookworm container built the way the
#      testbed builds its images (debootstrap minbase + man-db, docker
#      import, no registry; testbed/debootstrap-image.sh), run with
#      --network none: dpkg -i, natsops version (the release's version and
#      commit), man natsops-deploy, natsops validate of the packaged example,
#      the bash completion, natsops demo, then apt-get purge and a check that
#      nothing is left (scripts/pkgtest-container.sh says what is compared).
#
# Needs root and a Docker Engine; installs debootstrap and rpm with apt-get.
# The container is removed on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log() { echo "pkgtest: $*" >&2; }
fail() { echo "pkgtest: FAIL: $*" >&2; exit 1; }

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2; }
}
command -v rpm >/dev/null 2>&1 || { log "installing rpm with apt-get (rpm -qlp)"; apt_install rpm; }
command -v docker >/dev/null 2>&1 || fail "no docker: pkgtest needs a Docker Engine"

[ -f dist/metadata.json ] || fail "no dist/metadata.json: run make dist first"
version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' dist/metadata.json)
commit=$(sed -n 's/.*"commit":"\([^"]*\)".*/\1/p' dist/metadata.json)
[ -n "$version" ] && [ -n "$commit" ] || fail "dist/metadata.json names no version or commit: $(cat dist/metadata.json)"
head=$(git rev-parse HEAD 2>/dev/null || echo none)
[ "$commit" = "$head" ] || fail "dist/ was built from commit $commit, this tree is at $head: run make dist"
log "dist/ is natsops $version, commit $commit"

# What every package installs, besides the directories: the binary, a man
# page per command, completions, the examples, README and copyright.
man_pages=$(cd "$root" && ls build/pkg/man/*.1.gz | xargs -n1 basename | sed 's|^|/usr/share/man/man1/|')
[ "$(echo "$man_pages" | wc -l)" -ge 10 ] || fail "build/pkg/man has $(echo "$man_pages" | wc -l) pages"
echo "$man_pages" | grep -qx /usr/share/man/man1/natsops-deploy.1.gz || fail "no natsops-deploy.1.gz among the man pages"
examples=$(ls inventory/*.toml | xargs -n1 basename | sed 's|^|/usr/share/doc/natsops/examples/|')
expected() { # $1: zsh completion path of the distribution
  { echo /usr/bin/natsops
    echo "$man_pages"
    echo /usr/share/bash-completion/completions/natsops
    echo "$1"
    echo /usr/share/fish/vendor_completions.d/natsops.fish
    echo "$examples"
    echo /usr/share/doc/natsops/README.md
    echo /usr/share/doc/natsops/copyright
  } | LC_ALL=C sort
}
want_deb=$(expected /usr/share/zsh/vendor-completions/_natsops)
want_rpm=$(expected /usr/share/zsh/site-functions/_natsops)

one() { # exactly one file matches the glob $1
  local m=($1)
  [ ${#m[@]} -eq 1 ] && [ -f "${m[0]}" ] || fail "want exactly one $1, found: ${m[*]}"
  echo "${m[0]}"
}

log "checking the .rpm and .deb files' contents and metadata"
for arch in x86_64:amd64 aarch64:arm64; do
  rarch=${arch%:*} darch=${arch#*:}
  rpmf=$(one "dist/natsops-*.$rarch.rpm")
  got=$(rpm -qlp "$rpmf" 2>/dev/null | LC_ALL=C sort)
  [ "$got" = "$want_rpm" ] || { diff <(echo "$want_rpm") <(echo "$got") >&2 || true; fail "$rpmf installs other files than expected (diff above: < expected, > got)"; }
  [ "$(rpm -qp --qf '%{NAME} %{ARCH}' "$rpmf" 2>/dev/null)" = "natsops $rarch" ] || fail "$rpmf: name/arch $(rpm -qp --qf '%{NAME} %{ARCH}' "$rpmf")"
  rpm -qp --qf '%{URL}\n%{SUMMARY}\n' "$rpmf" 2>/dev/null | grep -qx https://github.com/natsops/natsops || fail "$rpmf has no homepage URL"
  rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpmf" 2>/dev/null \
    | grep -qx -- '-rwxr-xr-x root:root /usr/bin/natsops' || fail "$rpmf: /usr/bin/natsops is not -rwxr-xr-x root:root"

  debf=$(one "dist/natsops_*_$darch.deb")
  [ "$(dpkg-deb -f "$debf" Package Architecture Section | tr '\n' ' ')" = "Package: natsops Architecture: $darch Section: admin " ] \
    || fail "$debf: $(dpkg-deb -f "$debf" Package Architecture Section | tr '\n' ' ')"
  got=$(dpkg-deb -c "$debf" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $6}' | LC_ALL=C sort)
  [ "$got" = "$want_deb" ] || { diff <(echo "$want_deb") <(echo "$got") >&2 || true; fail "$debf installs other files than expected (diff above: < expected, > got)"; }
  # The binary inside is for that architecture (ELF e_machine: 0x3e x86-64, 0xb7 aarch64).
  tmp=$(mktemp -d); dpkg-deb -x "$debf" "$tmp"
  machine=$(od -An -tx2 -j18 -N2 "$tmp/usr/bin/natsops" | tr -d ' '); rm -rf "$tmp"
  case "$darch:$machine" in amd64:003e|arm64:00b7) ;; *) fail "$debf: /usr/bin/natsops is ELF machine $machine, not $darch" ;; esac
done
for a in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64; do
  f=$(one "dist/natsops_*_$a.tar.gz")
  tar -tzf "$f" | grep -qx natsops || fail "$f has no natsops binary"
  grep -q " $(basename "$f")\$" dist/checksums.txt || fail "dist/checksums.txt has no line for $f"
done
(cd dist && sha256sum --quiet -c checksums.txt) || fail "dist/checksums.txt does not match the files"
log "rpm, deb and archive contents as expected"

t0=$(date +%s)
image=$(testbed/debootstrap-image.sh natsops-pkgtest-base natsops-pkgtest=base man-db full)
log "image $image ready in $(( $(date +%s) - t0 ))s"
# Keep only the current pkgtest image (best effort), as build.sh does.
stale=$(docker images --format '{{.Repository}}:{{.Tag}}' natsops-pkgtest-base | grep -v -e ":${image#*:}\$" || true)
[ -z "$stale" ] || docker rmi $stale >/dev/null 2>&1 || true

out=$(mktemp -d /tmp/natsops-pkgtest.XXXXXX)
name=natsops-pkgtest-$$
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  docker rm -f "$name" >/dev/null 2>&1 || true
  if [ $rc -eq 0 ]; then rm -rf "$out"; else log "the container's records are in $out"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cp scripts/pkgtest-container.sh "$out/run.sh"
log "installing, using and purging the .deb in a --network none container of $image"
# Bounded: a hang fails the test (and cleanup removes the container)
# instead of holding CI; the work itself takes well under a minute.
timeout 900 docker run --name "$name" --network none --label natsops-pkgtest=run \
    -e EXPECT_VERSION="$version" -e EXPECT_COMMIT="$commit" \
    -v "$root/dist:/dist:ro" -v "$out:/out" \
    "$image" bash /out/run.sh \
  || fail "in the container (exit $?): see above"
cat "$out/times.txt" >&2
log "ok"
