// Command brokerbench measures runnel's broker against two peers, in one
// run on one machine, and prints the figures as Markdown tables:
//
//   - produce throughput, 100-byte and 1 KiB records, 4 producers,
//     acks=all;
//   - consume throughput from the start of a 1 GiB topic, warm (page
//     cache) and cold (broker restarted, page cache dropped);
//   - end-to-end latency (produce → a consumer sees the record) at fixed
//     rates, open loop, measured from each record's scheduled send time;
//   - each broker's resident memory, sampled all through the run, and the
//     CPU time of each broker and of its clients, per GB moved;
//   - this machine's loopback TCP throughput (a plain Go sender and
//     receiver), the ceiling for any broker on 127.0.0.1;
//   - produce and consume again with a topic of -big bytes (10 GB), to
//     compare with the small-topic figures.
//
// The peers: franz-go's in-memory fake broker kfake (a lower bound, it
// stores nothing on disk) and NATS JetStream (an embedded nats-server with
// file storage). runnel and kfake are driven by the same franz-go client
// with the same options; JetStream by nats.go's jetstream client. Each
// broker runs in its own child process (this binary with -child), so that
// its resident memory is its own and so that a restart is a real one.
//
// Run it from benchmarks/: go run ./cmd/brokerbench [-quick] [-big 10GB].
// It writes about 2 × (big + 4 GiB) under -dir and removes it when done.
// The cold figures drop the page cache (needs root; skipped otherwise).
// -profile DIR writes a CPU profile of the runnel broker per phase.
package main

import (
	"flag"
	rpt "github.com/runnel-io/runnel/benchmarks/internal/report"
	stdlog "log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/runnel-io/runnel/benchmarks/internal/host"
)

// params are the sizes and counts of one run.
type params struct {
	partitions   int32
	producers    int
	produceData  map[int]int64 // value bytes per produce round, all producers together, by record size
	small        int64         // the consume topic
	big          int64         // the size-independence topic
	chunk        int64         // the big topics are filled taking turns this much at a time
	rounds       int
	rates        []int
	e2eWarm      time.Duration
	e2eTime      time.Duration
	loopback     int64 // bytes per loopback round
	cold         bool
	profileDir   string
	jsPending    int // jetstream async publish max pending
	jsPullMsgs   int // jetstream consumer pull batch (messages)
	kfakeBrokers int // 0: kfake's default
	peers        []string
	skip         map[string]bool // steps left out (-skip)
}

func defaultParams(quick bool) params {
	p := params{
		partitions: 8, producers: 4,
		produceData: map[int]int64{100: 256 << 20, 1024: 1 << 30},
		small:       1 << 30, big: 10e9, chunk: 1 << 30,
		rounds: 3, rates: []int{5000, 50000},
		e2eWarm: time.Second, e2eTime: 10 * time.Second,
		loopback: 4 << 30, cold: true,
		jsPending: 4000, jsPullMsgs: 5000,
		peers: []string{peerRunnel, peerKfake, peerJetStream},
	}
	if quick {
		p.produceData = map[int]int64{100: 32 << 20, 1024: 64 << 20}
		p.small, p.big, p.chunk = 128<<20, 512<<20, 128<<20
		p.rounds, p.e2eTime, p.loopback = 1, 3*time.Second, 1<<30
	}
	return p
}

func main() {
	stdlog.SetFlags(0)
	stdlog.SetPrefix("brokerbench: ")
	var (
		dir      = flag.String("dir", "", "data directory, removed after the run (default: a new directory under benchmarks/data)")
		big      = flag.String("big", "", "size of the big topic (default 10GB; 512MiB with -quick)")
		small    = flag.String("small", "", "size of the consume topic (default 1GiB; 128MiB with -quick)")
		quick    = flag.Bool("quick", false, "small sizes, one round and short latency runs, for a quick run")
		rounds   = flag.Int("rounds", 0, "rounds per figure (default 3; 1 with -quick)")
		cold     = flag.Bool("cold", true, "also measure with the page cache dropped (needs root)")
		peers    = flag.String("peers", "runnel,kfake,jetstream", "brokers to measure, comma-separated")
		noBig    = flag.Bool("nobig", false, "skip the big-topic figures")
		profile  = flag.String("profile", "", "write a CPU profile of the runnel broker for each phase into this directory")
		timeout  = flag.Duration("timeout", 75*time.Minute, "give up after this long")
		settle   = flag.Duration("settle", dropSettle, "wait this long after dropping the page cache")
		pending  = flag.Int("js-pending", 0, "jetstream: async publish max pending (default: nats.go's 4000)")
		pullMsgs = flag.Int("js-pull", 0, "jetstream: consumer pull batch in messages (default 5000; nats.go's default is 500, also measured)")
		skip     = flag.String("skip", "", "steps to leave out, comma-separated: produce, consume, latency, big")
		kfakeN   = flag.Int("kfake-brokers", 0, "kfake: number of brokers (default: kfake's own default, 3)")
		child    = flag.String("child", "", "internal: run a broker as a child process")
	)
	flag.Parse()
	if *child != "" {
		kfakeBrokers = *kfakeN
		if err := childMain(*child, *dir); err != nil {
			stdlog.Fatalf("child %s: %v", *child, err)
		}
		return
	}
	dropSettle = *settle
	p := defaultParams(*quick)
	p.cold, p.profileDir = *cold, *profile
	if *rounds > 0 {
		p.rounds = *rounds
	}
	if *pending > 0 {
		p.jsPending = *pending
	}
	if *pullMsgs > 0 {
		p.jsPullMsgs = *pullMsgs
	}
	for _, s := range []struct {
		flag string
		dst  *int64
	}{{*big, &p.big}, {*small, &p.small}} {
		if s.flag == "" {
			continue
		}
		n, err := rpt.ParseSize(s.flag)
		if err != nil {
			stdlog.Fatal(err)
		}
		*s.dst = n
	}
	if *noBig {
		p.big = 0
	}
	p.kfakeBrokers = *kfakeN
	kfakeBrokers = *kfakeN
	p.skip = map[string]bool{}
	if *skip != "" {
		for _, s := range strings.Split(*skip, ",") {
			p.skip[s] = true
		}
	}
	p.chunk = min(p.chunk, max(p.big, 1))
	p.peers = strings.Split(*peers, ",")
	for _, name := range p.peers {
		if _, ok := brokerKinds[name]; !ok {
			stdlog.Fatalf("unknown peer %q", name)
		}
	}
	if err := run(*dir, p, *timeout); err != nil {
		stdlog.Fatal(err)
	}
}

// run makes the data directory, runs every figure, prints the report and
// removes the directory, also on a timeout or an interrupt.
func run(dir string, p params, timeout time.Duration) error {
	root, err := host.DataDir("brokerbench", dir)
	if err != nil {
		return err
	}
	cleanup := func() {
		killChildren()
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
	if p.profileDir != "" {
		if p.profileDir, err = filepath.Abs(p.profileDir); err != nil {
			return err
		}
		if err := os.MkdirAll(p.profileDir, 0o755); err != nil {
			return err
		}
	}
	start := time.Now()
	m := describeMachine(root)
	rep, err := figures(root, p)
	if err != nil {
		return err
	}
	m.loadEnd = host.LoadAverage(" ")
	rep.write(os.Stdout, m, start, rpt.Command("brokerbench"), root, time.Since(start))
	return nil
}
