#!/usr/bin/env bash
# natsops contexts with the real natscli (v0.5.0, installed with go install
# into bin/, as bench/pubsub-vs-natscli.sh does) against a kept demo
# cluster: `nats --context local server ls` must list n1 n2 n3 through the
# context natsops wrote, logging in as the demo's system user by a
# file:// reference, then an env:// one (a wrong value must be refused),
# then --with-secrets; a context natscli itself wrote is refused without
# --force and left byte for byte; what natscli adds to a natsops context
# survives natsops' next rewrite. XDG_CONFIG_HOME is a temporary
# directory: nothing touches the real ~/.config/nats. The demo is always
# stopped (trap), also on failure.
#
#   scripts/contexts.sh          # needs Go and the module proxy (first run)
set -euo pipefail
cd "$(dirname "$0")/.."
natscli_ver=v0.5.0
nats="$PWD/bin/natscli-$natscli_ver/nats"
if [ ! -x "$nats" ]; then
	mkdir -p "bin/natscli-$natscli_ver"
	GOBIN="$PWD/bin/natscli-$natscli_ver" CGO_ENABLED=0 go install "github.com/nats-io/natscli/nats@$natscli_ver"
fi
. scripts/lib/keep-demo.sh
tmp=$(mktemp -d)
natsops="$tmp/natsops"
demo=""
cleanup() {
	stop_demos "$natsops" "$tmp" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$natsops" ./cmd/natsops
export XDG_CONFIG_HOME="$tmp/xdg"
unset NATS_URL NATS_USER NATS_PASSWORD NATS_CREDS NATS_CONTEXT

fail() {
	echo "contexts: FAIL: $*" >&2
	exit 1
}
# expect CODE CMD...: run CMD, output in $tmp/out, fail unless it exits CODE.
expect() {
	local want=$1 got=0
	shift
	"$@" >"$tmp/out" 2>&1 || got=$?
	if [ "$got" != "$want" ]; then
		cat "$tmp/out" >&2
		fail "exit $got, want $want: $*"
	fi
}
# servers_listed: the nodes `nats server ls` printed in $tmp/out, sorted.
# The listings ask for 3 (`server ls 3`): natscli then waits for three
# answers (up to its timeout) instead of a short quiet period after the
# last one, which a slow node on a loaded machine could miss; fewer than
# three still fails the comparison.
servers_listed() {
	grep -oE '^│ n[0-9]+ ' "$tmp/out" | tr -d '│ ' | sort | tr '\n' ' '
}

echo "contexts: natscli $("$nats" --version 2>&1), demo cluster starting"
keep_demo "$natsops" "$tmp"
inv="$demo/natsops.toml"
ctx="$XDG_CONFIG_HOME/nats/context/local.json"

# 1. file:// reference to the demo's system password.
expect 0 "$natsops" contexts -i "$inv" --write
grep -q 'local.json (created)' "$tmp/out" || fail "not created: $(cat "$tmp/out")"
grep -q "\"password\": \"file://$demo/secrets/admin.password\"" "$ctx" || fail "no file:// reference in $ctx"
expect 0 "$nats" --context local server ls 3
[ "$(servers_listed)" = "n1 n2 n3 " ] || { cat "$tmp/out"; fail "server ls listed '$(servers_listed)', want n1 n2 n3"; }
echo "contexts: ok: nats --context local server ls lists n1 n2 n3 (file:// reference)"
expect 0 "$nats" --context local server report jetstream
grep -q 'RAFT Meta Group' "$tmp/out" || { cat "$tmp/out"; fail "server report jetstream shows no meta group"; }
echo "contexts: ok: nats --context local server report jetstream"
expect 0 "$natsops" contexts -i "$inv" --write
grep -q 'local.json (unchanged)' "$tmp/out" || fail "rewrite not unchanged: $(cat "$tmp/out")"

# 2. env:// reference: the same inventory with the system password from
# the environment; natscli reads the variable, a wrong value is refused.
sed -E "s#[\"']file:secrets/admin.password[\"']#'env:NATSOPS_CONTEXTS_ADMIN_PW'#" "$inv" >"$demo/env.toml"
grep -q 'env:NATSOPS_CONTEXTS_ADMIN_PW' "$demo/env.toml" || fail "could not make env.toml"
expect 0 "$natsops" contexts -i "$demo/env.toml" --write
grep -q 'local.json (updated)' "$tmp/out" || fail "not updated: $(cat "$tmp/out")"
grep -q '"password": "env://NATSOPS_CONTEXTS_ADMIN_PW"' "$ctx" || fail "no env:// reference in $ctx"
NATSOPS_CONTEXTS_ADMIN_PW=$(cat "$demo/secrets/admin.password") expect 0 "$nats" --context local server ls 3
[ "$(servers_listed)" = "n1 n2 n3 " ] || { cat "$tmp/out"; fail "server ls (env://) listed '$(servers_listed)'"; }
echo "contexts: ok: nats --context local server ls lists n1 n2 n3 (env:// reference)"
NATSOPS_CONTEXTS_ADMIN_PW=wrong expect 1 "$nats" --context local server ls
grep -qi 'authorization' "$tmp/out" || { cat "$tmp/out"; fail "a wrong password was not refused as an authorization error"; }
echo "contexts: ok: a wrong env:// value is refused by the server"

# 3. --with-secrets: the password itself, file mode 0600.
expect 0 "$natsops" contexts -i "$inv" --write --with-secrets
[ "$(stat -c %a "$ctx")" = 600 ] || fail "$ctx mode $(stat -c %a "$ctx"), want 600"
grep -q "\"password\": \"$(cat "$demo/secrets/admin.password")\"" "$ctx" || fail "--with-secrets did not write the password"
grep -q "$(cat "$demo/secrets/admin.password")" "$tmp/out" && fail "the password is in natsops' output"
expect 0 "$nats" --context local server ls 3
[ "$(servers_listed)" = "n1 n2 n3 " ] || fail "server ls (--with-secrets) listed '$(servers_listed)'"
echo "contexts: ok: --with-secrets context (0600) lists n1 n2 n3"

# 4. A context natscli wrote is natsops' to refuse (exit 1), untouched.
rm "$ctx"
expect 0 "$nats" context add local --server nats://127.0.0.1:1 --description "the operator's own"
cp "$ctx" "$tmp/theirs.json"
expect 1 "$natsops" contexts -i "$inv" --write
grep -q "$ctx exists and was not written by natsops" "$tmp/out" || fail "refusal does not name the file: $(cat "$tmp/out")"
grep -q -- '--force' "$tmp/out" || fail "refusal does not name --force"
cmp -s "$ctx" "$tmp/theirs.json" || fail "the operator's context was changed"
echo "contexts: ok: natscli's own context refused (exit 1) and left unchanged"
expect 0 "$natsops" contexts -i "$inv" --write --force
grep -q 'local.json (replaced)' "$tmp/out" || fail "--force did not replace: $(cat "$tmp/out")"
expect 0 "$nats" --context local server ls 3
[ "$(servers_listed)" = "n1 n2 n3 " ] || fail "server ls after --force listed '$(servers_listed)'"
echo "contexts: ok: --force replaced it; server ls lists n1 n2 n3"

# 5. nats context select makes it natscli's default: no --context needed.
expect 0 "$nats" context select local
expect 0 "$nats" server ls 3
[ "$(servers_listed)" = "n1 n2 n3 " ] || fail "server ls with the selected context listed '$(servers_listed)'"
echo "contexts: ok: nats context select local; nats server ls lists n1 n2 n3"

# 6. What the operator adds with natscli survives natsops' next rewrite.
expect 0 "$nats" context add local --inbox-prefix _INBOX_natsops_test
grep -q '"inbox_prefix": "_INBOX_natsops_test"' "$ctx" || fail "nats context add did not set inbox_prefix"
expect 0 "$natsops" contexts -i "$demo/env.toml" --write
grep -q 'local.json (updated)' "$tmp/out" || fail "not updated: $(cat "$tmp/out")"
grep -q '"inbox_prefix": "_INBOX_natsops_test"' "$ctx" || fail "the rewrite dropped natscli's inbox_prefix"
grep -q '"password": "env://NATSOPS_CONTEXTS_ADMIN_PW"' "$ctx" || fail "the rewrite did not update the password reference"
NATSOPS_CONTEXTS_ADMIN_PW=$(cat "$demo/secrets/admin.password") expect 0 "$nats" --context local server ls 3
[ "$(servers_listed)" = "n1 n2 n3 " ] || fail "server ls after the rewrite listed '$(servers_listed)'"
echo "contexts: ok: natscli's own addition (inbox_prefix) kept by the rewrite; server ls lists n1 n2 n3"

# 7. The system account has no streams: a second context as app
# (--suffix) sees the demo's stream; admin's does not.
expect 0 "$natsops" contexts -i "$inv" --user app --suffix app --write
grep -q 'local-app.json (created)' "$tmp/out" || fail "local-app not created: $(cat "$tmp/out")"
expect 0 "$nats" --context local-app stream ls --names
grep -qx 'DEMO' "$tmp/out" || { cat "$tmp/out"; fail "stream ls as app does not list DEMO"; }
echo "contexts: ok: nats --context local-app stream ls lists DEMO"
echo "contexts: PASS"
