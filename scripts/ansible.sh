#!/usr/bin/env bash
# natsops with the real Ansible (Debian's ansible-core, installed here when
# missing, like scripts/realserver.sh does with nats-server):
#
# 1. Inventory round trip: ansible-inventory -i examples/ansible/hosts.ini
#    --list | natsops inventory import --ansible - --group nats; natsops
#    validate on the result must pass, and pkg/ansible's
#    TestImportRealAnsible checks every mapped value in that real output
#    (NATSOPS_ANSIBLE_JSON).
# 2. The example playbook examples/ansible/natsops.yml with ansible-playbook
#    against a real local cluster (natsops demo --keep, always stopped):
#    fresh cluster → ok, nothing changed; an inventory change with
#    natsops_apply=true → the pending check and the deploy changed; again
#    → nothing changed; a missing inventory → the check task fails.
#    Each run's exit code and PLAY RECAP counts are checked.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

if ! command -v ansible-inventory >/dev/null || ! command -v ansible-playbook >/dev/null; then
	echo "ansible: installing Debian's ansible-core" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends ansible-core >/dev/null ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends ansible-core >/dev/null; }
fi
version=$(ansible-inventory --version)
echo "ansible: ${version%%$'\n'*}"

. scripts/lib/keep-demo.sh
tmp=$(mktemp -d)
demo=""
cleanup() {
	stop_demos "$tmp/natsops" "$tmp"
	rm -rf "$tmp"
}
trap cleanup EXIT
export ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
export ANSIBLE_LOCAL_TEMP="$tmp/ansible-local" ANSIBLE_REMOTE_TEMP="$tmp/ansible-remote"
"$GO" build -o "$tmp/natsops" ./cmd/natsops
natsops=$tmp/natsops

# 1. The inventory round trip.
start=$(date +%s%N)
ansible-inventory -i examples/ansible/hosts.ini --list >"$tmp/ansible.json"
"$natsops" inventory import --ansible - --group nats --out "$tmp/natsops.toml" <"$tmp/ansible.json"
echo "ansible: ansible-inventory --list and natsops inventory import took $((($(date +%s%N) - start) / 1000000)) ms"
"$natsops" validate -i "$tmp/natsops.toml"
if grep -q 'not-a-real-secret' "$tmp/natsops.toml"; then
	echo "ansible: an ignored secret's value reached the imported inventory" >&2
	exit 1
fi
out=$(NATSOPS_ANSIBLE_JSON="$tmp/ansible.json" "$GO" test -count=1 -run '^TestImportRealAnsible$' -v ./pkg/ansible/)
echo "$out" | grep -E '^(=== RUN|--- |ok|FAIL)'
if ! grep -q -- '--- PASS: TestImportRealAnsible' <<<"$out"; then
	echo "ansible: TestImportRealAnsible did not pass on the real output" >&2
	exit 1
fi

# 2. The playbook against a kept demo cluster.
keep_demo "$natsops" "$tmp"
echo "ansible: demo cluster kept in $demo"

# play WANT_RC OK CHANGED FAILED [extra ansible-playbook args]: run the
# example playbook and check its exit code and recap.
play() {
	local want_rc=$1 ok=$2 changed=$3 failed=$4
	shift 4
	local rc=0
	ansible-playbook -i localhost, -c local examples/ansible/natsops.yml \
		-e ansible_python_interpreter=/usr/bin/python3 -e "natsops_bin=$natsops" "$@" >"$tmp/play.log" 2>&1 || rc=$?
	local recap
	recap=$(grep -E '^localhost +: ' "$tmp/play.log" | tail -1 || true)
	local got="rc=$rc ok=$(grep -oE 'ok=[0-9]+' <<<"$recap" | cut -d= -f2) changed=$(grep -oE 'changed=[0-9]+' <<<"$recap" | cut -d= -f2) failed=$(grep -oE 'failed=[0-9]+' <<<"$recap" | cut -d= -f2)"
	local want="rc=$want_rc ok=$ok changed=$changed failed=$failed"
	if [ "$got" != "$want" ]; then
		echo "ansible: ansible-playbook $*: got $got, want $want" >&2
		cat "$tmp/play.log" >&2
		exit 1
	fi
	echo "ansible: playbook $*: $got"
}
inv=$demo/natsops.toml
play 0 3 0 0 -e "natsops_inventory=$inv"
# A change natsops reloads: the playbook says a deploy is pending (changed),
# deploys it (changed), and then nothing is pending.
sed -i "s/^write_deadline = .*/write_deadline = '4s'/" "$inv"
grep -q "^write_deadline = '4s'" "$inv" || {
	echo "ansible: the demo inventory has no write_deadline line to change" >&2
	exit 1
}
play 0 6 2 0 -e "natsops_inventory=$inv" -e natsops_apply=true
play 0 3 0 0 -e "natsops_inventory=$inv" -e natsops_apply=true
# natsops check exits 3 (UNKNOWN) without an inventory: the play fails.
play 2 0 0 1 -e "natsops_inventory=$tmp/missing.toml"
"$natsops" demo --stop "$demo"
echo "ansible: inventory import round trip and playbook passed"
