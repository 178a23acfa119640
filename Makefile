# natsops developer entry points. `make test` is the whole suite (README, CI).
GO ?= go
# Empty: each fuzz target runs its own execution count (scripts/fuzz.sh says
# why not a duration); 50000x or 10m override it for every target.
FUZZTIME ?=

.PHONY: build test unit docs fuzz lint realserver ansible contexts prometheus dist pkgtest e2e testbed-up testbed-down bench

build:
	$(GO) build -o bin/natsops ./cmd/natsops

# The whole test suite: lint, unit + CLI scripts, rendered configs checked by
# real nats-server binaries, bounded fuzzing, Ansible's inventory and
# playbook, natscli's contexts and node_exporter's textfile collector with
# the real tools, the packages
# installed in a clean Debian container, and the end-to-end tests on the
# Docker testbed.
test: lint unit realserver fuzz ansible contexts prometheus pkgtest e2e

# Under the race detector, also the natsops binary the demo tests build.
# Includes the documentation's tests (docs/docs_test.go; `make docs` alone).
unit:
	$(GO) test -race ./...

# The docs' own tests: docs/cli is what the command tree generates (else:
# go run ./cmd/natsops gendocs --markdown docs/cli), links resolve, every
# natsops command the README, docs/ and the example inventories show runs
# as written (a kept demo cluster for those that need one).
docs:
	$(GO) test -count=1 ./docs/

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

lint:
	./scripts/lint.sh

realserver:
	./scripts/realserver.sh

# Debian's ansible-core (installed when missing): ansible-inventory output
# imported and validated, the example playbook run against a demo cluster.
ansible:
	GO=$(GO) ./scripts/ansible.sh

# natsops contexts with the real natscli v0.5.0 against a kept demo cluster
# (nats --context local server ls lists n1 n2 n3).
contexts:
	./scripts/contexts.sh

# check --format prometheus read by Debian's node_exporter (unpacked, not
# installed) textfile collector, from a kept demo cluster.
prometheus:
	GO=$(GO) ./scripts/prometheus.sh

# Release archives, checksums, .deb and .rpm in dist/ (GoReleaser, snapshot
# mode, offline once goreleaser is installed; scripts/dist.sh).
dist:
	GO=$(GO) ./scripts/dist.sh

# The .deb installed, used and purged in a clean Debian container; the
# .rpm's and archives' contents (scripts/pkgtest.sh).
pkgtest: dist
	./scripts/pkgtest.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./pkg/...

# Docker testbed (testbed/README.md). NODES=1..10, default 3.
NODES ?= 3

# Build images if needed (offline), bring up $(NODES) nodes, run the e2e
# tests, tear everything down (also on failure or Ctrl-C).
e2e:
	GO=$(GO) NODES=$(NODES) ./testbed/testbed.sh e2e

testbed-up:
	GO=$(GO) NODES=$(NODES) ./testbed/testbed.sh up

testbed-down:
	GO=$(GO) ./testbed/testbed.sh down
