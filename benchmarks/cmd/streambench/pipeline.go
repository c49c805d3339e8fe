package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
)

// The work both sides do. keep passes about half the records; upper is
// the map; count keeps a count per key.
func keep(v []byte) bool { return len(v) > 0 && v[0]%2 == 0 }

func upper(v []byte) []byte { return bytes.ToUpper(v) }

const inputTopic = "sb-input"

// workload is one kind of processing, run by the stream runtime or by the
// hand-written loop.
type workload struct {
	id       string // "a", "b": for -only and profile names
	name     string
	topology func(in, out string) (*stream.Topology, error)
	// loop processes one record for the hand-written side and returns the
	// output value, or nil to drop it. counts is the loop's own state.
	loop     func(counts map[string]int64, r *kgo.Record) []byte
	expected func(in *preload) int64
}

var workloads = []workload{
	{
		id:   "a",
		name: "(a) stateless: filter + map",
		topology: func(inTopic, out string) (*stream.Topology, error) {
			b := stream.NewBuilder()
			in := stream.From(b, inTopic, serde.Bytes, serde.Bytes)
			stream.MapValues(stream.Filter(in, func(_, v []byte) bool { return keep(v) }), upper).To(out)
			return b.Build()
		},
		loop: func(_ map[string]int64, r *kgo.Record) []byte {
			if !keep(r.Value) {
				return nil
			}
			return upper(r.Value)
		},
		expected: func(in *preload) int64 { return in.kept },
	},
	{
		id:   "b",
		name: "(b) count per key",
		topology: func(inTopic, out string) (*stream.Topology, error) {
			b := stream.NewBuilder()
			in := stream.From(b, inTopic, serde.String, serde.Bytes)
			stream.ToStream(stream.GroupByKey(in).Count(stream.Named("counts"))).To(out)
			return b.Build()
		},
		loop: func(counts map[string]int64, r *kgo.Record) []byte {
			n := counts[string(r.Key)] + 1
			counts[string(r.Key)] = n
			v, _ := serde.Int64.Encode(n)
			return v
		},
		expected: func(in *preload) int64 { return in.records },
	},
}

// preload is the input topic's contents, as far as the figures need.
type preload struct {
	records, kept int64
}

// fill writes the input topic: records with keys drawn from p.keys and
// values of p.valueBytes random lowercase letters.
func fill(ctx context.Context, p params, cl *kgo.Client) (*preload, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := &preload{records: int64(p.records)}
	var failed atomic.Pointer[error]
	for i := 0; i < p.records; i++ {
		v := make([]byte, p.valueBytes)
		for j := range v {
			v[j] = 'a' + byte(rng.IntN(26))
		}
		if keep(v) {
			in.kept++
		}
		k := []byte("k" + strconv.Itoa(rng.IntN(p.keys)))
		cl.Produce(ctx, &kgo.Record{Topic: inputTopic, Key: k, Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(&err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, err
	}
	if e := failed.Load(); e != nil {
		return nil, *e
	}
	return in, nil
}

// waitOutput returns when the topic holds want records, or ctx ends.
func waitOutput(ctx context.Context, adm *kadm.Client, topic string, want int64) (time.Time, error) {
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			var n int64
			ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
			if n >= want {
				return time.Now(), nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// runStreamsOn runs the workload's topology as one App until ctx ends;
// assigned gets the time its tasks were first assigned.
func runStreamsOn(ctx context.Context, addr string, w workload, in, out, appID string, assigned *atomic.Int64) error {
	topo, err := w.topology(in, out)
	if err != nil {
		return err
	}
	app, err := stream.New(topo, stream.Brokers(addr), stream.AppID(appID), stream.Logger(logger),
		stream.OnTaskEvent(func(e stream.TaskEvent) {
			if e.Kind == stream.TasksAssigned {
				assigned.CompareAndSwap(0, time.Now().UnixNano())
			}
		}))
	if err != nil {
		return err
	}
	return app.Run(ctx)
}

// loopOn is the hand-written side: one franz-go client in a consumer
// group, consuming, processing and producing, flushing the producer and
// committing every 5 s (the stream runtime's default commit interval),
// until ctx ends.
func loopOn(ctx context.Context, addr string, w workload, in, out, group string, assigned *atomic.Int64) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			assigned.CompareAndSwap(0, time.Now().UnixNano())
		}))
	if err != nil {
		return err
	}
	defer cl.Close()
	var failed atomic.Pointer[error]
	counts := map[string]int64{}
	lastCommit := time.Now()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if v := w.loop(counts, r); v != nil {
				cl.Produce(ctx, &kgo.Record{Topic: out, Key: r.Key, Value: v}, func(_ *kgo.Record, err error) {
					if err != nil && !errors.Is(err, context.Canceled) {
						failed.Store(&err)
					}
				})
			}
		})
		if time.Since(lastCommit) >= 5*time.Second {
			if cl.Flush(ctx) == nil {
				cl.CommitUncommittedOffsets(ctx)
			}
			lastCommit = time.Now()
		}
		cl.AllowRebalance()
	}
	if e := failed.Load(); e != nil {
		return *e
	}
	return nil
}

// timing is one side's round: the time from the first assignment until
// the output held every record, and the CPU time this process (broker,
// clients, processing) used in between, which other processes on a
// shared machine disturb much less than the elapsed time.
type timing struct {
	elapsed, cpu time.Duration
}

// timed runs one side until the output holds want records.
func timed(ctx context.Context, adm *kadm.Client, out string, want int64, side func(context.Context, *atomic.Int64) error) (timing, error) {
	ctx, cancel := context.WithCancel(ctx)
	var assigned atomic.Int64
	errc := make(chan error, 1)
	go func() { errc <- side(ctx, &assigned) }()
	cpu0 := make(chan time.Duration, 1)
	go func() { // the CPU time at the assignment, to within a millisecond
		for assigned.Load() == 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cpu0 <- cpuTime()
	}()
	end, err := waitOutput(ctx, adm, out, want)
	cpu1 := cpuTime()
	cancel()
	if serr := <-errc; serr != nil && err == nil && !errors.Is(serr, context.Canceled) {
		err = serr
	}
	if err != nil {
		return timing{}, err
	}
	return timing{elapsed: end.Sub(time.Unix(0, assigned.Load())), cpu: cpu1 - <-cpu0}, nil
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// throughput preloads the input and runs every workload p.rounds times on
// each side, alternating sides.
func throughput(ctx context.Context, p params, addr string, r *results) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, p.partitions, 1, nil, inputTopic); err != nil {
		return err
	}
	t0 := time.Now()
	in, err := fill(ctx, p, cl)
	if err != nil {
		return err
	}
	logger.Warn("streambench: input written", "records", in.records, "in", time.Since(t0).Round(time.Millisecond))
	for wi, w := range workloads {
		if p.only != "" && p.only != w.id {
			continue
		}
		tr := throughputResult{name: w.name, records: in.records}
		for round := 0; round < p.rounds; round++ {
			for _, side := range []string{"streams", "loop"} {
				out := fmt.Sprintf("sb-out-%d-%s-%d", wi, side, round)
				if _, err := adm.CreateTopic(ctx, p.partitions, 1, nil, out); err != nil {
					return err
				}
				run := func(ctx context.Context, assigned *atomic.Int64) error {
					if side == "streams" {
						return runStreamsOn(ctx, addr, w, inputTopic, out, out, assigned)
					}
					return loopOn(ctx, addr, w, inputTopic, out, out, assigned)
				}
				var prof string
				if p.cpuprofile != "" && round == 0 {
					prof = p.cpuprofile + "." + w.id + "." + side
				}
				d, err := profiled(prof, func() (timing, error) { return timed(ctx, adm, out, w.expected(in), run) })
				if err != nil {
					return fmt.Errorf("%s %s round %d: %w", w.name, side, round, err)
				}
				if side == "streams" {
					tr.streams, tr.streamsCPU = append(tr.streams, d.elapsed), append(tr.streamsCPU, d.cpu)
				} else {
					tr.loop, tr.loopCPU = append(tr.loop, d.elapsed), append(tr.loopCPU, d.cpu)
				}
				logger.Warn("streambench: round", "workload", w.name, "side", side, "round", round,
					"took", d.elapsed.Round(time.Millisecond), "cpu", d.cpu.Round(time.Millisecond))
			}
		}
		r.throughput = append(r.throughput, tr)
	}
	return nil
}

// profiled runs f under a CPU profile written to file, if file is not "".
func profiled(file string, f func() (timing, error)) (timing, error) {
	if file == "" {
		return f()
	}
	out, err := os.Create(file)
	if err != nil {
		return timing{}, err
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		return timing{}, err
	}
	defer pprof.StopCPUProfile()
	return f()
}
