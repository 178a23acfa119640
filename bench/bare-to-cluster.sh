#!/usr/bin/env bash
# Bare hosts -> a healthy 3-node JetStream cluster, two ways, on fresh bare
# testbed nodes each run (b1..b3: OpenSSH and systemd, no nats-server;
# apt from the testbed's local repository):
#
#   natsops:  natsops provision --yes && natsops tune --yes && natsops deploy --yes
#             (package install, user, dirs, unit; tuning; a bootstrap: every
#             node installed, then all started together, one wait for the
#             whole cluster)
#   ansible:  the Ansible-role approach with Debian's ansible (raw tasks:
#             the bare hosts have no Python): apt install nats-server, the
#             store directory, each node's config (rendered by natsops render
#             beforehand, as a role's template would), restart every node at
#             once, then wait until every /healthz answers 200. No tuning, no
#             validation on the node, no health gate beyond /healthz.
#
# Prints each run's wall time and the medians, and the ratio natsops/ansible.
#   bench/bare-to-cluster.sh [RUNS]     # default 3; needs root, Docker, apt
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
command -v ansible-playbook >/dev/null || apt-get install -y -q ansible >/dev/null
go build -o bin/natsops ./cmd/natsops
go build -o testbed/out/bin/testbed ./testbed/cmd/testbed
./testbed/testbed.sh up >/dev/null
trap './testbed/testbed.sh down >/dev/null 2>&1' EXIT
out=testbed/out
inv=$out/bare-inventory.toml

bare() { testbed/out/bin/testbed bare -n 3 -dir "$out" 2>/dev/null; }

healthy() { # wait until every bare node's /healthz is 200 (bounded: 5 min)
	for i in $(seq 3000); do
		ok=0
		for ip in 10.213.77.31 10.213.77.32 10.213.77.33; do
			[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ip:8222/healthz")" = 200 ] && ok=$((ok + 1))
		done
		[ $ok = 3 ] && return 0
		sleep 0.1
	done
	echo "bench: the cluster did not become healthy" >&2
	return 1
}

cat >"$out/bench-hosts.ini" <<INI
[nats]
b1 ansible_host=10.213.77.31
b2 ansible_host=10.213.77.32
b3 ansible_host=10.213.77.33
[nats:vars]
ansible_user=ops
ansible_ssh_private_key_file=$PWD/$out/id_ed25519
ansible_ssh_common_args=-o UserKnownHostsFile=$PWD/$out/bare_known_hosts -o StrictHostKeyChecking=yes
ansible_python_interpreter=/usr/bin/python3
INI
# The bare hosts have no Python (Ansible's modules need it): the role's
# steps as raw tasks, the config carried inline, as a template task would.
cat >"$out/bench-playbook.yml" <<YML
- hosts: nats
  become: true
  gather_facts: false
  tasks:
    - raw: DEBIAN_FRONTEND=noninteractive apt-get install -y -q nats-server >/dev/null
    - raw: install -d -o nats -g nats -m 0750 /var/lib/nats/jetstream
    - raw: "echo {{ lookup('file', '$PWD/$out/bench-configs/' ~ inventory_hostname ~ '.conf') | b64encode }} | base64 -d > /etc/nats-server.conf && chown root:nats /etc/nats-server.conf && chmod 0640 /etc/nats-server.conf"
    - raw: systemctl restart nats-server
YML
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
n_times=() a_times=()
for r in $(seq "$runs"); do
	bare
	t0=$(date +%s.%N)
	bin/natsops -i "$inv" provision --yes >/dev/null
	rc=0; bin/natsops -i "$inv" tune --yes >/dev/null || rc=$?
	[ $rc = 0 ] || [ $rc = 4 ] || { echo "bench: tune: exit $rc" >&2; exit 1; }
	bin/natsops -i "$inv" deploy --yes >/dev/null
	# deploy returned once the cluster was healthy; status says it too.
	bin/natsops -i "$inv" status >/dev/null || { echo "bench: status after deploy: exit $?" >&2; exit 1; }
	t1=$(date +%s.%N)
	n=$(awk "BEGIN {print $t1 - $t0}")
	n_times+=("$n")

	bare
	rm -rf "$out/bench-configs" && bin/natsops -i "$inv" render --out "$out/bench-configs" >/dev/null
	t0=$(date +%s.%N)
	ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_STDOUT_CALLBACK=minimal ansible-playbook -i "$out/bench-hosts.ini" "$out/bench-playbook.yml" >/dev/null
	healthy
	t1=$(date +%s.%N)
	a=$(awk "BEGIN {print $t1 - $t0}")
	a_times+=("$a")
	printf 'run %d: natsops %.1fs, ansible %.1fs\n' "$r" "$n" "$a"
done
nm=$(printf '%s\n' "${n_times[@]}" | median)
am=$(printf '%s\n' "${a_times[@]}" | median)
printf 'median of %d: natsops %.1fs (provision + tune + deploy, healthy), ansible %.1fs (install, copy, restart, /healthz 200): ratio %.2f\n' "$runs" "$nm" "$am" "$(awk "BEGIN {print $nm / $am}")"
testbed/out/bin/testbed down >/dev/null 2>&1 || true
