#!/usr/bin/env bash
# House checks: gofmt, go vet, staticcheck (pinned, from the module proxy).
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go vet -tags e2e ./... 
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
echo "lint: gofmt, go vet, staticcheck clean"
