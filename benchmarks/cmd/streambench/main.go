// Command streambench measures runnel's stream runtime (package stream)
// against a hand-written franz-go consume → process → produce loop doing
// the same work, in one run, against the same runnel broker (in this
// process, on 127.0.0.1), and prints Markdown tables:
//
//   - throughput from the start of a preloaded topic for (a) a stateless
//     filter + map pipeline and (b) a count per key over 100,000 keys,
//     records/s, as a ratio to the hand-written loop;
//   - processing latency (input produced → output visible to a consumer)
//     p50/p99/p99.9 at a fixed input rate of 10,000 records/s;
//   - memory per task and per 1M keys in the in-memory store.
//
// Run it from benchmarks/:
//
//	go run ./cmd/streambench [-quick] [-records N] [-rounds N] [-only a|b] [-cpuprofile FILE]
//
// The full run takes about 5 minutes, -quick about 1. It removes its data
// directory when it ends. -only runs one throughput workload and nothing
// else; -cpuprofile writes a CPU profile of the first throughput round of
// each side to FILE.<a|b>.<streams|loop> (the broker runs in the same
// process, so its work is in the profiles too).
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/runnel-io/runnel/benchmarks/internal/report"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/runnel-io/runnel/benchmarks/internal/host"
	"github.com/runnel-io/runnel/cluster"
)

type params struct {
	records    int
	keys       int
	partitions int32
	valueBytes int
	rounds     int
	rate       int
	latency    time.Duration
	warmup     time.Duration
	tasks      int32
	storeKeys  int
	only       string // "a" or "b": that throughput workload only
	cpuprofile string // file name prefix for CPU profiles, or ""
}

func main() {
	quick := flag.Bool("quick", false, "small sizes, one round: a check that everything runs")
	records := flag.Int("records", 0, "records preloaded for the throughput rounds (default 2,000,000; -quick 200,000)")
	rounds := flag.Int("rounds", 0, "throughput rounds per side (default 3; -quick 1)")
	timeout := flag.Duration("timeout", 20*time.Minute, "stop the run after this long")
	only := flag.String("only", "", "run only throughput workload a (stateless) or b (count), no latency or memory")
	cpuprofile := flag.String("cpuprofile", "", "write CPU profiles of each side's first throughput round to `FILE`.<a|b>.<streams|loop>")
	flag.Parse()
	if *only != "" && *only != "a" && *only != "b" {
		fmt.Fprintln(os.Stderr, "streambench: -only takes a or b")
		os.Exit(2)
	}
	p := params{records: 2_000_000, keys: 100_000, partitions: 4, valueBytes: 100, rounds: 3,
		rate: 10_000, latency: 20 * time.Second, warmup: 3 * time.Second, tasks: 64, storeKeys: 1_000_000}
	if *quick {
		p.records, p.rounds, p.latency, p.warmup = 200_000, 1, 5*time.Second, time.Second
	}
	if *records > 0 {
		p.records = *records
	}
	if *rounds > 0 {
		p.rounds = *rounds
	}
	p.only, p.cpuprofile = *only, *cpuprofile
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancel2 := context.WithTimeout(ctx, *timeout)
	defer cancel2()
	if err := run(ctx, p, report.Command("streambench")); err != nil {
		fmt.Fprintln(os.Stderr, "streambench:", err)
		os.Exit(1)
	}
}

var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func run(ctx context.Context, p params, command string) error {
	dir, err := os.MkdirTemp("", "streambench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := cluster.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.Logger = "127.0.0.1:0", dir, logger
	// Both sides join a group; the figures time processing, not the
	// first rebalance's wait.
	cfg.GroupInitialRebalanceDelay = 0
	b, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve() }()
	defer func() { b.Close(); <-done }()
	addr := b.Addr().String()

	start := time.Now()
	load := host.LoadAverage(", ")
	r := &results{}
	if err := throughput(ctx, p, addr, r); err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	if p.only == "" {
		if err := latency(ctx, p, addr, r); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		if err := memory(ctx, p, addr, r); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
	}
	fmt.Printf("## streambench — %s\n\n", start.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("- %s; CPU: %s, %d cores; load average %s at the start, %s at the end\n",
		host.GoVersion(), host.CPUModel(), runtime.NumCPU(), load, host.LoadAverage(", "))
	fmt.Printf("- command: `%s` (run time %v)\n", command, time.Since(start).Round(time.Second))
	fmt.Printf("- broker: runnel `cluster.DefaultConfig()` in this process with group.initial.rebalance.delay 0, data in a temp dir\n")
	r.write(os.Stdout, p)
	return nil
}
