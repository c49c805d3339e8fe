package main

import (
	"fmt"
	"io"
	"time"

	"github.com/runnel-io/runnel/benchmarks/internal/report"
)

type results struct {
	throughput []throughputResult
	latency    []latencyResult
	storeBytes int64
	appBytes   int64
	taskBytes  int64
	tasks      int32
}

type throughputResult struct {
	name          string
	records       int64
	streams, loop []time.Duration
	// CPU time of the whole process (broker included) per round
	streamsCPU, loopCPU []time.Duration
}

type latencyResult struct {
	side string
	lats []time.Duration
}

func (r *results) write(w io.Writer, p params) {
	fmt.Fprintf(w, "\n### Throughput from the start of a preloaded topic (%s records of %d B, %s keys, %d partitions; median of %d rounds, range in brackets)\n\n",
		report.Int(float64(p.records)), p.valueBytes, report.Int(float64(p.keys)), p.partitions, p.rounds)
	fmt.Fprintln(w, "Time runs from the first assignment of tasks (partitions, for the loop) until the output topic holds every expected record. "+
		"Both sides: one instance (one franz-go client consuming and producing, default kgo options, acks=all), commit every 5 s. "+
		"The stream app also writes its store's changelog (b); the loop keeps its counts in a Go map with no changelog.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| pipeline | runnel streams | hand-written franz-go loop | ratio streams / loop | CPU µs per record, streams / loop | ratio loop CPU / streams CPU |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, t := range r.throughput {
		s, l := rate(t.records, report.Median(t.streams)), rate(t.records, report.Median(t.loop))
		sc, lc := perRecord(t.records, report.Median(t.streamsCPU)), perRecord(t.records, report.Median(t.loopCPU))
		fmt.Fprintf(w, "| %s | %s records/s%s | %s records/s%s | %.2f | %.2f / %.2f | %.2f |\n", t.name,
			report.Int(s), rateRange(t.records, t.streams), report.Int(l), rateRange(t.records, t.loop), s/l, sc, lc, lc/sc)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU is the whole process's user + system time over the same interval (the broker's share included), "+
		"the median of the rounds: other processes on a shared machine disturb it much less than the elapsed time.")
	if len(r.latency) == 0 {
		return // -only: throughput only
	}
	fmt.Fprintf(w, "\n### Processing latency at %s records/s (input produced → output seen by a consumer; stateless pipeline; %v measured after %v warm-up)\n\n",
		report.Int(float64(p.rate)), p.latency, p.warmup)
	fmt.Fprintln(w, "| side | records | p50 | p99 | p99.9 | max |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, l := range r.latency {
		if len(l.lats) == 0 {
			fmt.Fprintf(w, "| %s | 0 | | | | |\n", l.side)
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", l.side, report.Int(float64(len(l.lats))),
			report.Dur(report.Percentile(l.lats, 50)), report.Dur(report.Percentile(l.lats, 99)),
			report.Dur(report.Percentile(l.lats, 99.9)), report.Dur(l.lats[len(l.lats)-1]))
	}
	fmt.Fprintf(w, "\n### Memory (live heap after GC)\n\n")
	fmt.Fprintf(w, "- in-memory store (`state.Memory`), %s keys of a count (8-byte keys and values): %s, %.0f B per key\n",
		report.Int(float64(p.storeKeys)), report.Bytes(r.storeBytes), float64(r.storeBytes)/float64(p.storeKeys))
	fmt.Fprintf(w, "- an idle App running the count topology: %s with 1 task; each further task (of %d) adds %s (its store empty)\n",
		report.Bytes(r.appBytes), r.tasks, report.Bytes(r.taskBytes))
}

func rate(n int64, d time.Duration) float64 { return float64(n) / d.Seconds() }

func perRecord(n int64, d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }

func rateRange(n int64, ds []time.Duration) string {
	if len(ds) < 2 {
		return ""
	}
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return fmt.Sprintf(" (%s–%s)", report.Int(rate(n, hi)), report.Int(rate(n, lo)))
}
