# pxsh developer targets. `make demo` runs the tutorial on a private local
# cluster; `make test` runs the tests.
GO      ?= go
BIN     := bin/pxsh
# Fuzzing runs a number of executions per target (about 20-30 s each on
# the 2-core test machine; FUZZX multiplies them), not a duration: with a
# duration Go 1.26's fuzzing coordinator can fail a target with a bare
# "context deadline exceeded" as time runs out (golang/go#75804).
FUZZX ?= 1
fuzz_one = $(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $(shell expr $(2) \* $(FUZZX))x $(3)

.PHONY: build demo test check fuzz bench bench-compare bench-scale system-test clean

build:
	$(GO) build -o $(BIN) ./cmd/pxsh

demo: build
	./$(BIN) run -n 4 examples/tutorial.star

test: build
	$(GO) test -count=1 -timeout 15m ./...

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || ($(GO) mod tidy -diff; echo "go mod tidy: go.mod or go.sum is not tidy"; exit 1)
	./scripts/check-deps.sh

fuzz:
	$(call fuzz_one,FuzzReadFrame,100000,./quic)
	$(call fuzz_one,FuzzStreamDecoder,200000,./quic)
	$(call fuzz_one,FuzzDecode,120000,./starlarklib)
	$(call fuzz_one,FuzzCodecsAgree,50000,./shell/clientlib)
	$(call fuzz_one,FuzzDecodeArrays,100000,./starlarklib)
	$(call fuzz_one,FuzzHeaderFast,400000,./protocol)
	$(call fuzz_one,FuzzHeaderEncode,400000,./protocol)

bench: build
	PXSH_BINARY=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench . -skip '^BenchmarkScale$$' -benchtime 1x -timeout 20m ./bench
	@if [ -n "$(SCALE)" ]; then $(MAKE) bench-scale; fi
	PXSH_BINARY=$(CURDIR)/$(BIN) PXSH_SYSTEM_TESTS=1 $(GO) test -run '^$$' -bench StartLocal -benchtime 10x -timeout 10m ./launcher/systemtest

# pxsh against ipyparallel on the same machine in one run (Debian's
# python3-ipyparallel and python3-numpy; without them pxsh's side alone).
bench-compare: build
	PXSH_BENCH_COMPARE=1 PXSH_BINARY=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkCompare$$' -benchtime 1x -timeout 60m ./bench

# bench-scale: 1,000 engines (25 processes × 40) on one controller; sizes
# with SCALE_ENGINES=100,300,1000, engines per process with SCALE_PER_PROCESS.
SCALE_ENGINES ?= 1000
SCALE_PER_PROCESS ?= 40
bench-scale: build
	PXSH_BINARY=$(CURDIR)/$(BIN) PXSH_SCALE_ENGINES=$(SCALE_ENGINES) PXSH_SCALE_PER_PROCESS=$(SCALE_PER_PROCESS) \
		$(GO) test -run '^$$' -bench '^BenchmarkScale$$' -benchtime 1x -timeout 30m ./bench

system-test: build
	PXSH_SYSTEM_TESTS=1 $(GO) test -count=1 -timeout 20m ./launcher/...

clean:
	rm -rf bin
