// Command logbench measures runnel's partition log (package log) against a
// peer doing the same work with plain file I/O, on the same disk in the
// same run, and prints the figures as a Markdown table:
//
//   - append throughput vs a write(2) loop of the same bytes;
//   - sequential read throughput vs pread of the segment file;
//   - size independence: append throughput, random-read latency and
//     resident memory with a 10 MB log vs a 10 GiB one;
//   - recovery time after a SIGKILL, per GiB of unflushed tail.
//
// Run it from benchmarks/: go run ./cmd/logbench [-big 10GiB] [-quick].
// It writes about big + 3 GiB under -dir and removes it when done. The
// cold figures drop the page cache (sync; echo 3 > /proc/sys/vm/drop_caches),
// which needs root; without it they are skipped. On a VM that hands freed
// memory back to its host, whatever runs first after a big drop is slow,
// so each cold figure starts with an untimed read and waits -settle after
// every drop.
package main

import (
	"flag"
	"fmt"
	"github.com/runnel-io/runnel/benchmarks/internal/host"
	"github.com/runnel-io/runnel/benchmarks/internal/report"
	stdlog "log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// logger takes the log's own reports (recovery warnings); info is noise.
var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// params are the sizes and counts of one run.
type params struct {
	big, small  int64 // the size-independence logs
	appendBytes int64 // per side per round, append ratio
	growBytes   int64 // per log per round, size-independent append
	rounds      int
	randomReads int   // per log, warm
	probeReads  int   // per child process
	recoverMax  int64 // upper bound of the crashed log's size
	chunk       int   // sequential read size
	cold        bool
}

func defaultParams(quick bool) params {
	p := params{
		big: 10 << 30, small: 10e6,
		appendBytes: 1 << 30, growBytes: 256 << 20, rounds: 3,
		randomReads: 20000, probeReads: 2000,
		recoverMax: 1 << 30, chunk: 1 << 20, cold: true,
	}
	if quick {
		p.big, p.appendBytes, p.growBytes, p.rounds = 1<<30, 256<<20, 64<<20, 1
		p.randomReads, p.probeReads, p.recoverMax = 4000, 500, 256<<20
	}
	return p
}

func main() {
	stdlog.SetFlags(0)
	stdlog.SetPrefix("logbench: ")
	var (
		dir     = flag.String("dir", "", "data directory, removed after the run (default: a new directory under benchmarks/data)")
		big     = flag.String("big", "", "size of the big log for the size-independence figures (default 10GiB; 1GiB with -quick)")
		quick   = flag.Bool("quick", false, "smaller sizes and one round per figure, for a quick run")
		cold    = flag.Bool("cold", true, "also measure with the page cache dropped (needs root)")
		timeout = flag.Duration("timeout", 45*time.Minute, "give up after this long")
		settle  = flag.Duration("settle", dropSettle, "wait this long after dropping the page cache, before a cold measurement")
		child   = flag.String("child", "", "internal: run as a child process")
		reads   = flag.Int("reads", 0, "internal: random reads of a probe child")
		nbytes  = flag.Int64("bytes", 0, "internal: bytes a crash-write child appends")
	)
	flag.Parse()
	if *child != "" {
		if err := childMain(*child, *dir, *reads, *nbytes); err != nil {
			stdlog.Fatalf("child %s: %v", *child, err)
		}
		return
	}
	dropSettle = *settle
	p := defaultParams(*quick)
	p.cold = *cold
	if *big != "" {
		n, err := report.ParseSize(*big)
		if err != nil {
			stdlog.Fatal(err)
		}
		p.big = n
	}
	if err := run(*dir, p, *timeout); err != nil {
		stdlog.Fatal(err)
	}
}

func childMain(kind, dir string, reads int, n int64) error {
	switch kind {
	case childProbe:
		return probeMain(dir, reads)
	case childCrashWrite:
		return crashWriteMain(dir, n)
	case childRecover:
		return recoverMain(dir)
	}
	return fmt.Errorf("unknown child %q", kind)
}

// run makes the data directory, runs every figure, prints the report and
// removes the directory, also on a timeout or an interrupt.
func run(dir string, p params, timeout time.Duration) error {
	root, err := host.DataDir("logbench", dir)
	if err != nil {
		return err
	}
	cleanup := func() {
		killChild()
		os.RemoveAll(root)
		if dir == "" {
			os.Remove(filepath.Dir(root)) // benchmarks/data, if now empty
		}
	}
	defer cleanup()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-stop:
			stdlog.Printf("%v: stopping", s)
		case <-time.After(timeout):
			stdlog.Printf("timed out after %v: stopping", timeout)
		}
		cleanup()
		os.Exit(2)
	}()
	start := time.Now()
	m := describeMachine(root)
	rows, notes, err := figures(root, p)
	if err != nil {
		return err
	}
	writeHeader(os.Stdout, m, start, report.Command("logbench"), fmt.Sprintf("data: %s (removed after); total run time %v", root, time.Since(start).Round(time.Second)))
	writeTable(os.Stdout, rows)
	if len(notes) > 0 {
		fmt.Println()
		fmt.Println(joinNotes(notes))
	}
	return nil
}
