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
	$(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/chaos$$')
	@# The chaos suite's short profile runs alone: it judges auth latency, which
	@# other test packages sharing the two cores would blur (docs/reliability.md).
	$(GO) test -count=1 -timeout 10m ./chaos

.PHONY: test/deps
test/deps: ## install what tests need beyond Go and the services, if missing: chromium, promtool (Debian packages)
	scripts/test-deps.sh

.PHONY: test/race
test/race: test/deps ## the test suite under the race detector
	$(GO) test -count=1 -race -timeout 30m ./...

.PHONY: lint
lint: lint/spec ## gofmt, go vet, staticcheck, the API contracts
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

.PHONY: lint/spec
lint/spec: ## api/openapi.yaml (OpenAPI 3.1), eventschema/asyncapi.yaml (AsyncAPI 3.0), the event schemas, the generated client
	$(GO) test -count=1 -run '^(TestSpec.*|TestClientIsGenerated|TestEveryEventTypeHasItsSchema|TestSchemaExamplesValidate|TestSchemaURIsNameNoFolder)$$' ./api/... ./eventschema/...

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# BENCH_PROTECT=off|v1+v2|v2 (default off) runs bench/api, bench/relay and
# bench/consumer with the personal fields protected (docs/benchmarks.md,
# "Protecting personal data: the cost"), e.g. make bench/relay BENCH_PROTECT=v2.
.PHONY: bench
bench: bench/api bench/relay bench/consumer bench/keepup bench/failover ## every benchmark (figures go to docs/benchmarks.md)

.PHONY: bench/api
bench/api: build ## register/login rate and latency vs the raw argon2id rate of this machine
	$(GO) build -o bin/ ./cmd/authbench
	scripts/bench-api.sh $(BENCH_ARGS)

.PHONY: bench/relay
bench/relay: build ## relay drain rate (1 and 3 replicas) vs raw JetStream publish rate; commit-to-stream latency
	$(GO) build -o bin/ ./cmd/authbench
	scripts/bench-relay.sh $(BENCH_RELAY_ARGS)

.PHONY: bench/consumer
bench/consumer: build ## drain rate of each consumer service (1 and 2 replicas) and its ratio to a bare fetch+ack, CPU per 1,000 events, peak RSS
	$(GO) build -o bin/ ./cmd/authbench
	scripts/bench-consumer.sh $(BENCH_CONSUMER_ARGS)

.PHONY: bench/keepup
bench/keepup: build ## one replica of each consumer service against one API node refreshing flat out (60 s): each one's lag
	$(GO) build -o bin/ ./cmd/authbench
	$(GO) build -o bin/nats-server github.com/nats-io/nats-server/v2
	scripts/bench-keepup.sh $(BENCH_KEEPUP_ARGS)

.PHONY: bench/failover
bench/failover: build ## a 3-node JetStream cluster loses its stream leader under load: pause seen by consumers, loss, duplicates
	$(GO) build -o bin/ ./cmd/authbench
	$(GO) build -o bin/nats-server github.com/nats-io/nats-server/v2
	scripts/bench-failover.sh $(BENCH_FAILOVER_ARGS)

CHAOS_DURATION ?= 5m
CHAOS_SEED ?=
.PHONY: chaos
chaos: ## the chaos suite, full schedule (CHAOS_DURATION, default 5m; CHAOS_SEED to replay): report in var/chaos/report.json
	mkdir -p var/chaos
	CHAOS_PROFILE=full CHAOS_DURATION=$(CHAOS_DURATION) CHAOS_SEED=$(CHAOS_SEED) CHAOS_PROGRESS=1 \
	  CHAOS_REPORT=$(CURDIR)/var/chaos/report.json CHAOS_LOG_DIR=$(CURDIR)/var/chaos/logs \
	  $(GO) test -count=1 -run '^TestChaos$$' -v -timeout 40m ./chaos

.PHONY: db/migrate
db/migrate: build ## apply migrations to DATABASE_URL
	bin/authctl migrate up

.PHONY: compose/check
compose/check: ## validate docker-compose.yml with the Compose spec's own loader (no Docker needed; part of make test)
	$(GO) test -count=1 -run 'Compose' ./deploy

.PHONY: k8s/check
k8s/check: ## kustomize build + kubeconform every deploy/k8s overlay, offline (part of make test)
	$(GO) test -count=1 -run 'Overlays|Workloads|Scalers|Manifest|PrometheusRule|NATSValues|Schema' ./deploy

.PHONY: clean
clean: ## remove build output (keeps ./var data)
	rm -rf bin
