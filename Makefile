# authevents — run `make` for the list of targets.
SHELL := /usr/bin/env bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/authevents/authevents/internal/buildinfo.version=$(VERSION) \
	-X github.com/authevents/authevents/internal/buildinfo.revision=$(REVISION)
BINARIES := api authctl relay consumer dashboard
FUZZTIME ?= 30s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_/-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/api, bin/authctl, bin/relay, bin/consumer, bin/dashboard
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./cmd/,$(BINARIES))

.PHONY: run
run: build ## run the whole system locally (starts Postgres/Redis/NATS if needed), prints the URLs
	scripts/run.sh

.PHONY: test
test: lint test/deps ## lint, then the whole test suite against real Postgres, Redis and NATS (fuzz seed corpora included)
	$(GO) test -count=1 -timeout 20m ./...

.PHONY: test/deps
test/deps: ## install what tests need beyond Go and the services, if missing: chromium, promtool (Debian packages)
	scripts/test-deps.sh

.PHONY: test/race
test/race: test/deps ## the test suite under the race detector
	$(GO) test -count=1 -race -timeout 30m ./...

.PHONY: lint
lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

.PHONY: bench
bench: bench/api bench/relay ## every benchmark (figures go to docs/benchmarks.md)

.PHONY: bench/api
bench/api: build ## register/login rate and latency vs the raw argon2id rate of this machine
	$(GO) build -o bin/ ./cmd/authbench
	scripts/bench-api.sh $(BENCH_ARGS)

.PHONY: bench/relay
bench/relay: build ## relay drain rate (1 and 3 replicas) vs raw JetStream publish rate; commit-to-stream latency
	$(GO) build -o bin/ ./cmd/authbench
	scripts/bench-relay.sh $(BENCH_RELAY_ARGS)

.PHONY: db/migrate
db/migrate: build ## apply migrations to DATABASE_URL
	bin/authctl migrate up

.PHONY: compose/check
compose/check: ## validate docker-compose.yml (needs the docker compose client, not an engine)
	docker compose -f docker-compose.yml config --quiet

.PHONY: clean
clean: ## remove build output (keeps ./var data)
	rm -rf bin
