# The pixiu LLM gateway. Every target works on a fresh machine: tools and the registry servers
# are built by the project itself (Polaris from the Go module proxy, r-nacos with cargo).

GO        ?= go
BIN       := bin
PKGS      := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/pixiu-llm/gateway/pkg/cmd.Version=$(VERSION)
# The whole suite, integration and end-to-end tests included, must finish well within CI's budget.
TEST_TIMEOUT ?= 12m

.PHONY: all build test test-short lint fmt demo bench registry clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/pixiu ./cmd/pixiu

# registry builds (once, cached outside the repo) the Nacos-protocol servers the tests talk to:
# Polaris and r-nacos. A warm run finds both and costs nothing; a cold r-nacos build takes long
# (see docs/ai/registry.md). Without cargo, r-nacos is skipped (its tests skip), unless CI=true.
registry:
	$(GO) run ./cmd/pixiu-devregistry -build-only

test: registry
	$(GO) vet $(PKGS)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

# test-short skips the tests that need the registry server.
test-short:
	$(GO) test -race -count=1 -short $(PKGS)

lint:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

fmt:
	gofmt -w $$(git ls-files '*.go')

# demo runs the whole system on loopback: registry, providers registering with `pixiu llm
# register`, the gateway, traffic through it with openai-go. See cmd/pixiu-demo.
demo: build
	$(GO) build -o $(BIN)/pixiu-demo ./cmd/pixiu-demo
	$(BIN)/pixiu-demo -pixiu $(BIN)/pixiu -config configs/demo.yaml

# bench runs the whole benchmark suite (docs/benchmarks.md) on this machine in one go: it builds
# the gateway, the driver and the registry servers (Polaris; r-nacos where cargo is present, for
# the Nacos gRPC row), runs every scenario side by side and writes bin/bench-results.md.
# BENCH_FLAGS=-quick for a smoke run.
bench: build registry
	$(GO) build -o $(BIN)/pixiu-bench ./cmd/pixiu-bench
	$(BIN)/pixiu-bench -pixiu $(BIN)/pixiu -out $(BIN)/bench-results.md $(BENCH_FLAGS)

clean:
	rm -rf $(BIN)
