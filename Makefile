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

# make run: the example it runs (examples/$(EXAMPLE)), where its embedded
# broker keeps its data (gitignored) and where it listens (for kcat).
EXAMPLE      ?= clickstream
RUN_DATA_DIR ?= data/run
RUN_LISTEN   ?= 127.0.0.1:9092

.PHONY: all help build run interop test fuzz bench clean

all: build

help:
	@echo "make build   build the static binary $(BIN)"
	@echo "make run     build, then run examples/$(EXAMPLE) with an embedded broker on $(RUN_LISTEN) (data in $(RUN_DATA_DIR)), a generator and live results"
	@echo "make test    go vet, then all tests with the race detector"
	@echo "make interop kcat and kafka-python against a real broker (installs them with apt-get)"
	@echo "make fuzz    run each fuzz target of $(FUZZPKGS) for FUZZTIME (now $(FUZZTIME))"
	@echo "make bench   Go benchmarks of ./log, then $(BENCHTOOLS) in benchmarks/"
	@echo "make clean   remove build outputs"

build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./ops/cmd/runnel

# The example starts a runnel broker in its own process (data in
# $(RUN_DATA_DIR); its first line says where it listens, for kcat), the
# stream application, a generator of sample input and a printer of its
# results. Ctrl-C stops them cleanly; the topics and the application's
# state stay for the next run (rm -rf $(RUN_DATA_DIR) starts afresh).
# EXAMPLE=wordcount or EXAMPLE=sessions runs another example.
run: build
	$(GO) build -o bin/$(EXAMPLE) ./examples/$(EXAMPLE)
	@mkdir -p $(RUN_DATA_DIR)
	./bin/$(EXAMPLE) --embedded $(RUN_DATA_DIR) --listen $(RUN_LISTEN) --generate

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
FUZZPKGS ?= ./log ./cluster ./cluster/group ./state ./stream
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
BENCHTOOLS ?= logbench brokerbench groupbench streambench
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./log/...
	cd benchmarks && for t in $(BENCHTOOLS); do echo "== $$t"; $(GO) run ./cmd/$$t || exit 1; done

clean:
	rm -rf bin
