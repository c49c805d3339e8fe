# runnel — build, test, fuzz and benchmark. `make help` lists the targets.

GO       ?= go
FUZZTIME ?= 30s

BIN     := bin/runnel
PKG_CLI := github.com/runnel-io/runnel/ops/cli
# Stamped into `runnel version`. Both fall back quietly outside a git
# checkout or before the first commit.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -X $(PKG_CLI).Version=$(VERSION) -X $(PKG_CLI).Commit=$(COMMIT)

# make run: where the local broker listens and keeps its data (gitignored).
RUN_LISTEN   ?= 127.0.0.1:9092
RUN_DATA_DIR ?= data/broker

.PHONY: all help build run interop test fuzz bench clean

all: build

help:
	@echo "make build   build the static binary $(BIN)"
	@echo "make run     build, then run a broker on $(RUN_LISTEN) with its data in $(RUN_DATA_DIR)"
	@echo "make test    go vet, then all tests with the race detector"
	@echo "make interop kcat and kafka-python against a real broker (installs them with apt-get)"
	@echo "make fuzz    run each fuzz target of $(FUZZPKGS) for FUZZTIME (now $(FUZZTIME))"
	@echo "make bench   Go benchmarks of ./log, then $(BENCHTOOLS) in benchmarks/"
	@echo "make clean   remove build outputs"

build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./ops/cmd/runnel

# Ctrl-C stops the broker cleanly; its topics stay in $(RUN_DATA_DIR).
run: build
	@mkdir -p $(RUN_DATA_DIR)
	@echo "runnel: starting a broker on $(RUN_LISTEN), data in $(RUN_DATA_DIR); Ctrl-C stops it."
	@echo "  produce: echo hello | kcat -b $(RUN_LISTEN) -t demo -P"
	@echo "  consume: kcat -b $(RUN_LISTEN) -t demo -C -e"
	@echo "  (kcat: apt-get install kcat)"
	./$(BIN) broker --listen $(RUN_LISTEN) --data-dir $(RUN_DATA_DIR)

# kcat and kafka-python produce to and consume from a real broker; the
# script installs them with apt-get if missing.
interop:
	bash ops/interop/run.sh

# -race needs cgo, hence a C compiler (gcc); CGO_ENABLED=1 makes a missing
# compiler an explicit error instead of a silent cgo-off build.
# Fuzz targets' seed corpora (testdata/fuzz) run here as ordinary tests.
test:
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -timeout 30m ./...

# One target at a time: go test -fuzz accepts a single target per run.
FUZZPKGS ?= ./log ./cluster ./cluster/group
fuzz:
	@set -e; \
	for pkg in $(FUZZPKGS); do \
		list=$$($(GO) test -list '^Fuzz' $$pkg); \
		for t in $$(printf '%s\n' "$$list" | grep '^Fuzz' || true); do \
			echo "fuzz: $$pkg $$t for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz="^$${t}\$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

# benchmarks/ is its own module (github.com/runnel-io/runnel/benchmarks):
# each tool measures runnel beside a peer in one run and prints Markdown for
# benchmarks/RESULTS.md. They write gigabytes and take minutes.
BENCHTOOLS ?= logbench brokerbench groupbench
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./log/...
	cd benchmarks && for t in $(BENCHTOOLS); do echo "== $$t"; $(GO) run ./cmd/$$t || exit 1; done

clean:
	rm -rf bin
