package main

import (
	"fmt"
	"github.com/runnel-io/runnel/benchmarks/internal/report"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/runnel-io/runnel/log"
)

// randomReadBytes is the fetch size of a random read: one 16 KiB batch.
const randomReadBytes = batchBytesMax

// buildLog opens a log with the default config in dir and appends until it
// holds at least n bytes. It returns the open log and how long the appends
// took.
func buildLog(dir string, p *batchPool, n int64) (*log.Log, time.Duration, error) {
	l, err := log.Open(dir, log.WithConfig(log.DefaultConfig()), log.WithLogger(logger))
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	if _, err := appendBytes(l, p, n); err != nil {
		l.Close()
		return nil, 0, err
	}
	d := time.Since(start)
	l.SetHighWatermark(l.EndOffset())
	return l, d, nil
}

// sizedLog is a log built for the size-independence figures.
type sizedLog struct {
	name string // "10 MB", "10 GiB"
	dir  string
	l    *log.Log
}

// benchGrowAppend appends n bytes to each log, taking turns every MiB,
// rounds times, and truncates each back afterwards so that its size stays
// what it was. The row compares the big log's median throughput to the
// small one's.
func benchGrowAppend(small, big *sizedLog, p *batchPool, n int64, rounds int) (row, error) {
	var sd, bd []time.Duration
	for r := range rounds {
		ws := make([]*writer, 2)
		ends := make([]int64, 2)
		for i, s := range []*sizedLog{small, big} {
			ends[i] = s.l.EndOffset()
			ws[i] = &writer{write: func(b []byte) error { _, err := s.l.Append(b, -1); return err }}
		}
		order := ws
		if r%2 == 1 {
			order = []*writer{ws[1], ws[0]}
		}
		syscall.Sync()
		if err := takeTurns(order, p, n); err != nil {
			return row{}, err
		}
		for i, s := range []*sizedLog{small, big} {
			if err := s.l.TruncateTo(ends[i]); err != nil {
				return row{}, fmt.Errorf("truncate %s log back to %d: %w", s.name, ends[i], err)
			}
			s.l.SetHighWatermark(s.l.EndOffset())
		}
		sd, bd = append(sd, ws[0].t.buffered), append(bd, ws[1].t.buffered)
	}
	bytes := p.batchesFor(n) * int64(p.size)
	sm, bm := mbps(bytes, report.Median(sd)), mbps(bytes, report.Median(bd))
	figure := fmt.Sprintf("Size independence: append %s (buffered, turns every MiB) to a %s log (runnel column) vs a %s log (peer column), median of %d",
		report.Bytes(bytes), big.name, small.name, rounds)
	return within(figure, fmtMBps(bm)+rangeMBps(bytes, bd), fmtMBps(sm)+rangeMBps(bytes, sd), bm/sm, 0.10), nil
}

// benchRandomWarm times n random reads of each log, in alternating blocks,
// with the page cache warm, and returns p50 and p99 rows. Reference rows
// time the same through pread of the segment files, to show what the
// hardware itself does with a larger working set (CPU caches, TLB).
func benchRandomWarm(small, big *sizedLog, n int) ([]row, error) {
	const blocks = 4
	rng := rand.New(rand.NewPCG(7, 11))
	var raws [2]*rawFiles
	for i, s := range []*sizedLog{small, big} {
		r, err := openRawFiles(s.dir)
		if err != nil {
			return nil, err
		}
		defer r.close()
		raws[i] = r
	}
	var lat, raw [2][]time.Duration
	// An untimed block first, so that everything starts warm.
	for b := -1; b < blocks; b++ {
		for i, s := range []*sizedLog{small, big} {
			l, err := randomReads(s.l, rng, n/blocks, randomReadBytes)
			if err != nil {
				return nil, fmt.Errorf("random reads of the %s log: %w", s.name, err)
			}
			r, err := raws[i].randomReads(rng, n/blocks, randomReadBytes)
			if err != nil {
				return nil, err
			}
			if b >= 0 {
				lat[i], raw[i] = append(lat[i], l...), append(raw[i], r...)
			}
		}
	}
	what := fmt.Sprintf("page cache warm, %d reads each", len(lat[0]))
	rows := latencyRows(what, small, big, lat[0], lat[1], true)
	for _, r := range latencyRows(what, small, big, raw[0], raw[1], false) {
		r.figure = "Reference, not runnel: pread of the segment files at random positions; " + strings.TrimPrefix(r.figure, "Size independence: random-offset read ")
		rows = append(rows, r)
	}
	return rows, nil
}

// rawFiles are a log's segment files opened for plain preads.
type rawFiles struct {
	files []*os.File
	sizes []int64
	total int64
}

func openRawFiles(dir string) (*rawFiles, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	r := &rawFiles{}
	for _, s := range segs {
		f, err := os.Open(s.path)
		if err != nil {
			r.close()
			return nil, err
		}
		r.files, r.sizes = append(r.files, f), append(r.sizes, s.size)
		r.total += s.size
	}
	return r, nil
}

func (r *rawFiles) close() {
	for _, f := range r.files {
		f.Close()
	}
}

// randomReads preads size bytes at n uniformly random positions.
func (r *rawFiles) randomReads(rng *rand.Rand, n, size int) ([]time.Duration, error) {
	buf := make([]byte, size)
	lat := make([]time.Duration, n)
	for k := range lat {
		pos := rng.Int64N(r.total)
		i := 0
		for pos >= r.sizes[i] {
			pos -= r.sizes[i]
			i++
		}
		pos = min(pos, max(r.sizes[i]-int64(size), 0))
		t := time.Now()
		_, err := r.files[i].ReadAt(buf, pos)
		lat[k] = time.Since(t)
		if err != nil && err != io.EOF {
			return nil, err
		}
	}
	return lat, nil
}

// latencyRows compares the p50 and p99 of two latency samples.
func latencyRows(what string, small, big *sizedLog, sl, bl []time.Duration, target bool) []row {
	slices.Sort(sl)
	slices.Sort(bl)
	var rows []row
	for _, p := range []float64{50, 99} {
		s, b := report.Percentile(sl, p), report.Percentile(bl, p)
		figure := fmt.Sprintf("Size independence: random-offset read latency p%.0f (%s fetch), %s log vs %s log; %s",
			p, report.Bytes(randomReadBytes), big.name, small.name, what)
		ratio := float64(b) / float64(s)
		if target {
			rows = append(rows, within(figure, report.Dur(b), report.Dur(s), ratio, 0.10))
		} else {
			rows = append(rows, info(figure, report.Dur(b), report.Dur(s), fmt.Sprintf("%.2f", ratio)))
		}
	}
	return rows
}

// benchProbes opens each log in a fresh child process (the logs must be
// closed) and compares the resident memory that opening it and reading
// at random offsets added. With cold set, it drops the page cache before
// each child and reports the children's read latencies too.
func benchProbes(small, big *sizedLog, reads int, cold bool) ([]row, error) {
	var res [2]probeResult
	for i, s := range []*sizedLog{small, big} {
		if cold {
			if err := dropCaches(); err != nil {
				return nil, err
			}
		}
		r, err := runProbeChild(s.dir, reads)
		if err != nil {
			return nil, fmt.Errorf("probe %s log: %w", s.name, err)
		}
		res[i] = r
	}
	sm, bg := res[0], res[1]
	if cold {
		return latencyRows(fmt.Sprintf("cold: caches dropped, fresh process, first %d reads", reads), small, big,
			durations(sm.LatNs), durations(bg.LatNs), false), nil
	}
	sAdd, bAdd := sm.RSSReads-sm.RSSBefore, bg.RSSReads-bg.RSSBefore
	figure := fmt.Sprintf("Size independence: RSS added by Open + %d random reads in a fresh process, %s log vs %s log (target: difference ≤ 64 MiB)",
		reads, big.name, small.name)
	diff := bAdd - sAdd
	rss := row{figure, fmt.Sprintf("+%s (VmRSS %s)", report.Bytes(bAdd), report.Bytes(bg.RSSReads)),
		fmt.Sprintf("+%s (VmRSS %s)", report.Bytes(sAdd), report.Bytes(sm.RSSReads)),
		fmt.Sprintf("diff %+.1f MiB", float64(diff)/(1<<20)), "≤ 64 MiB", yesNo(diff <= 64<<20)}
	open := info(fmt.Sprintf("Clean Open in a fresh process, %s log vs %s log", big.name, small.name),
		report.Dur(time.Duration(bg.OpenNs)), report.Dur(time.Duration(sm.OpenNs)),
		fmt.Sprintf("%.2f", float64(bg.OpenNs)/float64(sm.OpenNs)))
	return []row{rss, open}, nil
}

func durations(ns []int64) []time.Duration {
	d := make([]time.Duration, len(ns))
	for i, n := range ns {
		d[i] = time.Duration(n)
	}
	return d
}
