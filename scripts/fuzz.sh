#!/usr/bin/env bash
# Run every fuzz target for a bounded time (default 10s each). Go runs one
# fuzz target per invocation, so they are listed here. Minimizing is capped:
# its 60s default on a 4KB seed would eat the whole budget.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10s}
run() { # package target
	echo "fuzz: $2 ($1) for $t"
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$t" -fuzzminimizetime 2s "$1"
}
run ./pkg/natsconf FuzzQuote
run ./pkg/cluster FuzzLoad
run ./pkg/config FuzzRoundTrip
run ./pkg/config FuzzMaskConfig
run ./pkg/remote FuzzQuote
