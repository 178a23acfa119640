# Sourced by the scripts that drive natsops against a kept demo cluster
# (ansible.sh, contexts.sh, prometheus.sh).
#
#   keep_demo NATSOPS WORK    natsops demo --keep, its directory under WORK;
#                             sets $demo to that directory (its inventory is
#                             $demo/natsops.toml), or fails naming the output
#   stop_demos NATSOPS WORK   stop every demo under WORK, also one whose
#                             output could not be read: for the exit trap
keep_demo() {
	local natsops=$1 work=$2
	TMPDIR="$work" "$natsops" demo --keep -o json >"$work/demo.json"
	demo=$(sed -n 's/^{"event":"setup","dir":"\([^"]*\)".*/\1/p' "$work/demo.json" | head -1)
	if [ -z "$demo" ] || [ ! -f "$demo/natsops.toml" ]; then
		echo "natsops demo --keep -o json named no directory:" >&2
		head -c 2000 "$work/demo.json" >&2
		return 1
	fi
}

stop_demos() {
	local natsops=$1 work=$2 d
	for d in "$work"/natsops-demo-*; do
		[ -d "$d" ] || continue
		"$natsops" demo --stop "$d" >&2 || echo "could not stop the demo in $d" >&2
	done
}
