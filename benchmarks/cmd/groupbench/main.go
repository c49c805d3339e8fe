// Command groupbench measures runnel's group coordinator against franz-go's
// in-memory fake broker kfake, in one run on one machine, with the same
// franz-go (kgo) clients and options on both sides, and prints the figures
// as Markdown tables:
//
//   - rebalance time: a group of 10 members reads a 100-partition topic
//     that a producer fills at a fixed rate; an 11th member joins, then
//     leaves (LeaveGroup), then one of the 10 is killed (its connections
//     closed, no LeaveGroup). Each event is timed until every partition is
//     owned by a live member and has delivered a record to it since the
//     event, for eager (range) and cooperative-sticky balancing;
//   - the consumption throughput around each event, in 100 ms buckets;
//   - offset commit throughput with several concurrent committers, and
//     OffsetFetch latency, with 1,000 groups holding committed offsets.
//
// Both brokers run in this process, on 127.0.0.1, one at a time: the
// rounds take turns between them. Run it from benchmarks/:
//
//	go run ./cmd/groupbench [-quick] [-v] [-only runnel|kfake] [-phases rebalance,offsets] [-cpuprofile f]
//
// The full run takes about 10 minutes, -quick about 2. -v prints each
// round's figures to stderr as it ends.
// It stops by itself (-timeout), and removes runnel's data directory when
// it finishes, times out or is interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	rpt "github.com/runnel-io/runnel/benchmarks/internal/report"
	stdlog "log"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/runnel-io/runnel/benchmarks/internal/host"
)

// params are the sizes, counts and client settings of one run.
type params struct {
	members    int
	partitions int32
	rate       int // records/s the producer sends, spread evenly over the partitions
	session    time.Duration
	heartbeat  time.Duration
	rounds     int
	baseline   time.Duration // consumption measured before an event
	after      time.Duration // and after the group consumes again
	settleMax  time.Duration // how long a group may take to become stable
	eventMax   time.Duration // how long an event may take, beyond the session timeout
	quiet      time.Duration // no assignment change for this long: stable

	groups           int   // groups holding committed offsets
	commitPartitions int32 // partitions in one commit
	committers       int
	commitTime       time.Duration // per side per round
	fetches          int           // OffsetFetch requests per side

	kfakeBrokers int
	only         string // "" (both), "runnel" or "kfake"
	phases       map[string]bool
	verbose      bool
}

func defaultParams(quick bool) params {
	p := params{
		members: 10, partitions: 100, rate: 10000,
		session: 6 * time.Second, heartbeat: time.Second,
		rounds: 5, baseline: 2 * time.Second, after: 2 * time.Second,
		settleMax: time.Minute, eventMax: 30 * time.Second, quiet: 1500 * time.Millisecond,
		groups: 1000, commitPartitions: 10, committers: 8,
		commitTime: 3 * time.Second, fetches: 20000,
		kfakeBrokers: 1,
	}
	if quick {
		p.rounds, p.commitTime, p.fetches = 1, time.Second, 4000
	}
	return p
}

const (
	sideRunnel = "runnel"
	sideKfake  = "kfake"

	phaseRebalance = "rebalance"
	phaseOffsets   = "offsets"
)

// logger takes runnel's and kfake's own reports; info is noise here
// (runnel logs every rebalance at info).
var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func main() {
	stdlog.SetFlags(0)
	stdlog.SetPrefix("groupbench: ")
	var (
		quick      = flag.Bool("quick", false, "one round per figure and fewer requests, for a quick run (about 2 min)")
		rounds     = flag.Int("rounds", 0, "rounds per figure (default 5; 1 with -quick)")
		rate       = flag.Int("rate", 0, "records/s the producer sends during the rebalance rounds (default 10000)")
		heartbeat  = flag.Duration("heartbeat", 0, "kgo HeartbeatInterval of the members (default 1s)")
		only       = flag.String("only", "", "run one side only: runnel or kfake (for profiling)")
		phases     = flag.String("phases", phaseRebalance+","+phaseOffsets, "what to measure: rebalance, offsets or both")
		kfakeN     = flag.Int("kfake-brokers", 1, "brokers in the kfake cluster (kfake's own default is 3)")
		dir        = flag.String("dir", "", "runnel's data directory, removed after the run (default: a new directory under benchmarks/data)")
		timeout    = flag.Duration("timeout", 30*time.Minute, "give up after this long")
		cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of the whole process (brokers and clients) to this file")
		verbose    = flag.Bool("v", false, "print each round's figures to stderr as it ends")
	)
	flag.Parse()
	p := defaultParams(*quick)
	if *rounds > 0 {
		p.rounds = *rounds
	}
	if *rate > 0 {
		p.rate = *rate
	}
	if *heartbeat > 0 {
		p.heartbeat = *heartbeat
	}
	p.kfakeBrokers, p.verbose = *kfakeN, *verbose
	switch *only {
	case "", sideRunnel, sideKfake:
		p.only = *only
	default:
		stdlog.Fatalf("-only %q: want runnel or kfake", *only)
	}
	p.phases = map[string]bool{}
	for _, ph := range strings.Split(*phases, ",") {
		switch ph = strings.TrimSpace(ph); ph {
		case phaseRebalance, phaseOffsets:
			p.phases[ph] = true
		default:
			stdlog.Fatalf("-phases: unknown phase %q", ph)
		}
	}
	if err := run(p, *dir, *timeout, *cpuprofile); err != nil {
		stdlog.Fatal(err)
	}
}

// run starts the brokers, measures, prints the report and cleans up, also
// on a timeout or an interrupt.
func run(p params, dir string, timeout time.Duration, cpuprofile string) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	root, err := host.DataDir("groupbench", dir)
	if err != nil {
		return err
	}
	var sides []*side
	cleanup := func() {
		for _, s := range sides {
			s.close()
		}
		os.RemoveAll(root)
		removeIfEmpty(dir)
	}
	defer cleanup()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-stop:
			stdlog.Printf("%v: stopping", s)
		case <-ctx.Done():
			stdlog.Printf("timed out after %v: stopping", timeout)
		}
		pprof.StopCPUProfile()
		cleanup()
		os.Exit(2)
	}()
	if sides, err = startSides(ctx, p, root); err != nil {
		return err
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	r := &report{params: p, start: start, machine: describeMachine(), command: rpt.Command("groupbench"), load: host.LoadAverage(", ")}
	r.versions = pinnedVersionsNote(sides)
	for _, s := range sides {
		r.sides = append(r.sides, s.describe())
	}
	if p.phases[phaseRebalance] {
		if r.rebalance, err = rebalanceFigures(ctx, p, sides); err != nil {
			return fmt.Errorf("rebalance: %w", err)
		}
	}
	if p.phases[phaseOffsets] {
		if r.offsets, err = offsetFigures(ctx, p, sides); err != nil {
			return fmt.Errorf("offsets: %w", err)
		}
	}
	r.elapsed = time.Since(start)
	r.loadAfter = host.LoadAverage(", ")
	r.write(os.Stdout)
	return nil
}

// removeIfEmpty removes benchmarks/data if the run made it and it is now
// empty (os.Remove does not remove a directory that is not).
func removeIfEmpty(dir string) {
	if dir == "" {
		os.Remove(host.BenchData())
	}
}

// errTimeout is returned when a group does not reach the state a step waits
// for in time.
var errTimeout = errors.New("timed out")
