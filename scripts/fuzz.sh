#!/usr/bin/env bash
# Fuzz every target, bounded by work rather than by the clock.
#
#   scripts/fuzz.sh                each target's own execution count (below): CI
#   scripts/fuzz.sh 50000x         that many executions for every target
#   scripts/fuzz.sh 10m            time-boxed, for a long session by hand
#   scripts/fuzz.sh 10m FuzzLoad   only the targets named (Name or dir:Name)
#
# Why counts: with a duration, Go's fuzzing coordinator races its own
# -fuzztime deadline (golang/go#75804, in go.mod's Go 1.26:
# internal/fuzz CoordinateFuzzing). The deadline closes the parent
# context's Done channel before it cancels the workers' child context, and
# Context.Err is a lock-free load, so the coordinator can see
# DeadlineExceeded on the parent and nil on the child and fail the target
# with a bare "context deadline exceeded" and no crasher. A loaded 2-core machine hits it (CI: natsconf FuzzQuote, 20.46s
# for 20s; here 4 of 150 one-second runs beside two busy loops). With
# -fuzztime=Nx there is no deadline at all: the coordinator stops itself
# after N executions, so load only makes the run slower. Minimizing is
# capped by executions too (its 60s default on a 4KB seed would eat the
# budget), and those executions count toward N.
#
# Every target's seed corpus and testdata/fuzz entries first run as plain
# tests (no coordinator), so a committed crasher fails the same way every
# time. Any failure of a fuzz run fails, a crasher above all (its input is
# written to testdata/fuzz/<target>, commit it as a regression test). The
# only exception, in time-boxed runs only: exactly the race above (the
# deadline message and nothing else, no failing input written, no new
# testdata file) is reported and passes.
#
# FUZZ_WATCHDOG (default 20m) bounds each target's run as a backstop for a
# wedged run, far above what any load makes of these budgets; it fails
# saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
budget=${1:-}
shift || true
only=("$@")
watchdog=${FUZZ_WATCHDOG:-20m}

# package target executions: about 10s each on an idle 2-core machine
# (no less than the 20s durations they replace did here under load).
targets=(
	"./pkg/natsconf FuzzQuote 200000"
	"./pkg/cluster FuzzLoad 120000"
	"./pkg/config FuzzRoundTrip 4000"
	"./pkg/config FuzzMaskConfig 12000"
	"./pkg/config FuzzEstateRoundTrip 3000"
	"./pkg/remote FuzzQuote 12000"
	"./pkg/remote FuzzMatchPattern 150000"
	"./pkg/ansible FuzzImport 60000"
)
# A fuzz target not listed above is still fuzzed, for this many.
unlisted_count=5000
minimize=1000x

case $budget in
"" | *[0-9]x) ;;
*[0-9]s | *[0-9]m | *[0-9]h | *[0-9]ms) ;;
*)
	echo "fuzz.sh: budget $budget: want nothing, an execution count (50000x) or a duration (10m)" >&2
	exit 64
	;;
esac

# Every fuzz target in the tree: "./dir Name".
dirs=()
for d in pkg cmd internal; do
	[ ! -d "$d" ] || dirs+=("$d")
done
found=$({ grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\([A-Za-z0-9_]+ \*testing\.F\)' "${dirs[@]}" || true; } |
	sed -E 's|^([^:]*)/[^/:]*:func (Fuzz[A-Za-z0-9_]*)\(.*|./\1 \2|' | sort -u)
for t in "${targets[@]}"; do
	read -r pkg name _ <<<"$t"
	if ! grep -qxF "$pkg $name" <<<"$found"; then
		echo "fuzz.sh: lists $name in $pkg, which has no such fuzz target: update the list" >&2
		exit 1
	fi
done
while read -r pkg name; do
	[ -n "$pkg" ] || continue
	listed=false
	for t in "${targets[@]}"; do
		[[ $t == "$pkg $name "* ]] && listed=true
	done
	if ! $listed; then
		echo "fuzz.sh: $name ($pkg) is not listed: fuzzing it for ${unlisted_count}x; give it its own count"
		targets+=("$pkg $name $unlisted_count")
	fi
done <<<"$found"

if [ ${#only[@]} -gt 0 ]; then
	keep=()
	for t in "${targets[@]}"; do
		read -r pkg name _ <<<"$t"
		for o in "${only[@]}"; do
			if [ "$o" = "$name" ] || [ "./${o#./}" = "$pkg:$name" ]; then
				keep+=("$t")
				break
			fi
		done
	done
	if [ ${#keep[@]} -eq 0 ]; then
		echo "fuzz.sh: no fuzz target named ${only[*]}" >&2
		exit 64
	fi
	targets=("${keep[@]}")
fi

# 1. Seed corpora and committed crashers, as plain tests.
pkgs=() names=()
for t in "${targets[@]}"; do
	read -r pkg name _ <<<"$t"
	[[ " ${pkgs[*]} " == *" $pkg "* ]] || pkgs+=("$pkg")
	[[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
done
run=$(
	IFS='|'
	echo "${names[*]}"
)
echo "fuzz: seed corpora as tests: ${names[*]}"
"$GO" test -run "^($run)\$" "${pkgs[@]}"

wd=()
if command -v timeout >/dev/null; then
	wd=(timeout --kill-after=30s "$watchdog")
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# deadline_race: the log's failure is the coordinator's own deadline and
# nothing else, and no input was written.
deadline_race() { # name corpus-before corpus-after
	[ "$2" = "$3" ] || return 1
	! grep -q 'Failing input written to' "$log" || return 1
	awk -v name="$1" '
		index($0, "--- FAIL: " name " (") == 1 { fail = 1; next }
		fail && /^FAIL/ { fail = 0; next }
		fail { sub(/^[ \t]+/, ""); if ($0 != "context deadline exceeded") other = 1; else seen = 1 }
		END { exit !(seen && !other) }' "$log"
}

# 2. Fuzz each target.
summary=()
for t in "${targets[@]}"; do
	read -r pkg name count <<<"$t"
	ft=${budget:-${count}x}
	corpus="$pkg/testdata/fuzz/$name"
	before=$(ls "$corpus" 2>/dev/null || true)
	echo "fuzz: $name ($pkg) for $ft"
	start=$(date +%s)
	set +e
	"${wd[@]}" "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$ft" -fuzzminimizetime "$minimize" "$pkg" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	secs=$(($(date +%s) - start))
	execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 || true)
	after=$(ls "$corpus" 2>/dev/null || true)
	case $rc in
	0) summary+=("$name ($pkg): ok, ${execs:-execs: ?} in ${secs}s") ;;
	124 | 137)
		echo "fuzz: $name ($pkg) still running after $watchdog (FUZZ_WATCHDOG): wedged, or this machine is far slower than the budget assumes" >&2
		exit 1
		;;
	*)
		if [[ $ft != *x ]] && deadline_race "$name" "$before" "$after"; then
			echo "fuzz: $name ($pkg): ended by the fuzzing coordinator's own -fuzztime deadline (golang/go#75804), no failing input: not a finding"
			summary+=("$name ($pkg): ok (coordinator deadline race, golang/go#75804), ${execs:-execs: ?} in ${secs}s")
		else
			echo "fuzz: $name ($pkg) FAILED after ${secs}s" >&2
			if [ "$before" != "$after" ]; then
				echo "fuzz: new failing input in $corpus: reproduce with $GO test -run '^$name\$' $pkg, commit it with the fix" >&2
			fi
			exit 1
		fi
		;;
	esac
done
printf 'fuzz: %s\n' "${summary[@]}"
