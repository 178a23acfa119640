#!/bin/bash
# Runs inside the clean Debian container of scripts/pkgtest.sh (--network
# none): install the .deb, use it as an operator would, purge it, and check
# that nothing is left. /dist is dist/ (read-only), /out this run's output
# directory on the host: neither is part of the listings.
#   EXPECT_VERSION  the version dist/metadata.json says was built
#   EXPECT_COMMIT   the commit it was built from
set -euo pipefail
export LC_ALL=C
step() { echo "pkgtest(container): $*" >&2; }
fail() { echo "pkgtest(container): FAIL: $*" >&2; exit 1; }

# The filesystem listing: every path with its type, mode and owner (and a
# file's size; a directory's size is how its storage grew, which overlayfs
# resets when the directory is copied up), and an MD5 of each regular
# file's content. Left out, each for a reason:
#   /proc /sys /dev     kernel views, not files (and other filesystems: -xdev)
#   /dist /out          this test's own mounts
#   /var/lib/dpkg/{status,status-old,lock*,triggers/Lock,triggers/Unincorp}
#                       dpkg's own state: the package's line in status goes
#                       to "not-installed"/gone; every other file there, the
#                       package's info/natsops.* included, stays in the listing
#   /var/lib/dpkg/available  rewritten by dpkg on every run
#   /var/log            dpkg.log, apt/history.log, apt/term.log,
#                       alternatives.log: logs of the install and purge
#   /var/cache/apt/*.bin  apt's binary cache, built by apt-get purge
#   /var/cache/apt/archives/{lock,partial} /var/lib/apt/lists/{lock,partial,auxfiles}
#                       apt-get's locks and download directories, made (and
#                       chowned to _apt) by its first run, whatever it does
#   /var/lib/apt/extended_states  apt's record of automatic installs
#   /var/cache/man      man-db's index, updated by its trigger on install and
#                       purge (the pages themselves are in the listing)
#   /var/cache/debconf/*-old  debconf's backups, rewritten by apt-get
# /tmp, /run, /root and /etc stay in: the demo's temporary directory and
# anything natsops might write to $HOME must be gone too.
prune=( \( -path /proc -o -path /sys -o -path /dev -o -path /dist -o -path /out
            -o -path /var/log -o -path /var/cache/man
            -o -path /var/lib/dpkg/status -o -path /var/lib/dpkg/status-old
            -o -path '/var/lib/dpkg/lock*' -o -path /var/lib/dpkg/triggers/Lock
            -o -path /var/lib/dpkg/triggers/Unincorp -o -path /var/lib/dpkg/available
            -o -path '/var/cache/apt/*.bin' -o -path /var/lib/apt/extended_states
            -o -path /var/cache/apt/archives/lock -o -path /var/cache/apt/archives/partial
            -o -path /var/lib/apt/lists/lock -o -path /var/lib/apt/lists/partial
            -o -path /var/lib/apt/lists/auxfiles
            -o -path '/var/cache/debconf/*-old' \) -prune )
listing() {
  find / -xdev "${prune[@]}" -o -type d -printf '%p d %m %u:%g\n' -o -printf '%p %y %m %u:%g %s\n' | sort
  find / -xdev "${prune[@]}" -o -type f -print0 | xargs -0 -r md5sum | sort -k2
}

debs=(/dist/natsops_*_amd64.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "want exactly one /dist/natsops_*_amd64.deb, found: ${debs[*]}"
deb=${debs[0]}

step "filesystem listing before the install"
listing > /out/before.txt

t0=$(date +%s.%N)
step "dpkg -i $(basename "$deb")"
dpkg -i "$deb" 2>&1 | tee /out/dpkg-install.txt
grep -qi warning /out/dpkg-install.txt && fail "dpkg -i warned (above)"
dpkg -L natsops | sort > /out/dpkg-L.txt
command -v natsops | grep -qx /usr/bin/natsops || fail "natsops is not /usr/bin/natsops"

step "natsops version"
natsops version | tee /out/version.txt
grep -qF "natsops $EXPECT_VERSION (commit ${EXPECT_COMMIT:0:12}," /out/version.txt \
  || fail "natsops version does not name version $EXPECT_VERSION and commit ${EXPECT_COMMIT:0:12}"
natsops version -o json > /out/version.json
grep -qF "\"commit\": \"$EXPECT_COMMIT\"" /out/version.json || fail "natsops version -o json lacks the full commit"

step "man natsops-deploy"
[ "$(man -w natsops-deploy)" = /usr/share/man/man1/natsops-deploy.1.gz ] || fail "man -w natsops-deploy: $(man -w natsops-deploy 2>&1)"
MANPAGER=cat MANWIDTH=80 man natsops-deploy > /out/man-deploy.txt 2> /out/man-deploy.err \
  || { cat /out/man-deploy.err >&2; fail "man natsops-deploy failed"; }
head -3 /out/man-deploy.txt >&2
grep -q '^NATSOPS-DEPLOY(1) .* natsops manual .* NATSOPS-DEPLOY(1)$' /out/man-deploy.txt || fail "man natsops-deploy: no NATSOPS-DEPLOY(1) header"
grep -q -- '--restart' /out/man-deploy.txt || fail "man natsops-deploy does not document --restart"
grep -q "natsops $EXPECT_VERSION" /out/man-deploy.txt || fail "man natsops-deploy's footer does not name natsops $EXPECT_VERSION"
[ -s /out/man-deploy.err ] && { cat /out/man-deploy.err >&2; fail "man natsops-deploy printed warnings"; }

step "natsops validate -i /usr/share/doc/natsops/examples/example.toml"
natsops validate -i /usr/share/doc/natsops/examples/example.toml || fail "validate exited $?"

step "completion scripts"
for f in /usr/share/bash-completion/completions/natsops /usr/share/zsh/vendor-completions/_natsops \
         /usr/share/fish/vendor_completions.d/natsops.fish; do
  [ -s "$f" ] || fail "$f missing"
done
bash -c 'source /usr/share/bash-completion/completions/natsops && complete -p natsops' | grep -q __start_natsops \
  || fail "sourcing the bash completion does not register it for natsops"

step "natsops demo"
t1=$(date +%s.%N)
natsops demo --timeout 2m || fail "natsops demo exited $?"
t2=$(date +%s.%N)
echo "install_to_demo_seconds $(awk "BEGIN{print $t2 - $t0}")" > /out/times.txt
echo "demo_seconds $(awk "BEGIN{print $t2 - $t1}")" >> /out/times.txt

step "apt-get purge -y natsops"
apt-get purge -y natsops 2>&1 | tee /out/purge.txt
dpkg -s natsops >/dev/null 2>&1 && fail "dpkg still knows natsops after the purge: $(dpkg -s natsops | grep Status)"

step "nothing left"
left=0
while read -r p; do
  [ "$p" = /. ] && continue
  if [ -d "$p" ] && [ ! -L "$p" ]; then
    # A directory the system had before (/usr/share/man/man1) stays.
    grep -q "^$p d " /out/before.txt && continue
  fi
  if [ -e "$p" ] || [ -L "$p" ]; then echo "left behind: $p" >&2; left=1; fi
done < /out/dpkg-L.txt
[ $left -eq 0 ] || fail "the purge left paths of dpkg -L natsops (above)"
listing > /out/after.txt
if ! diff -u /out/before.txt /out/after.txt > /out/listing.diff; then
  cat /out/listing.diff >&2
  fail "the filesystem after the purge differs from before the install (above)"
fi
step "ok: $(wc -l < /out/dpkg-L.txt) paths installed and removed; the listing ($(wc -l < /out/before.txt) lines) is as before"
