package main

import (
	"fmt"
	"github.com/runnel-io/runnel/benchmarks/internal/report"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/runnel-io/runnel/log"
)

// interleaveBytes is the unit in which the two sides of a write figure
// take turns. Taking turns every MiB, rather than running one side after
// the other, gives both the same machine: the same dirty-page level, the
// same writeback, and the same cost of first touching memory (on a VM
// whose free memory is handed back to the host, that cost comes and goes).
const interleaveBytes = 1 << 20

// appendTiming is one timed append run: until the last write returned
// (buffered: the data is in the page cache), and until it was fsynced
// (durable).
type appendTiming struct {
	buffered, durable time.Duration
}

// writer is one side of an append figure.
type writer struct {
	write func(batch []byte) error // append one batch
	sync  func() error             // make it durable
	t     appendTiming
}

// benchAppendRatio appends n bytes to a fresh log and writes the same bytes
// to a fresh file with write(2), taking turns every MiB, rounds times; the
// fsyncs at the end go one after the other, in alternating order. It
// returns the buffered and the durable row.
func benchAppendRatio(dir string, p *batchPool, n int64, rounds int) ([]row, error) {
	var logT, fileT []appendTiming
	for r := range rounds {
		lt, ft, err := appendRound(dir, p, n, r%2 == 1)
		if err != nil {
			return nil, err
		}
		logT, fileT = append(logT, lt), append(fileT, ft)
	}
	bytes := p.batchesFor(n) * int64(p.size)
	records := p.batchesFor(n) * int64(p.records)
	rows := make([]row, 0, 2)
	for _, kind := range []struct {
		name string
		get  func(appendTiming) time.Duration
	}{
		{"buffered: page cache, no fsync", func(t appendTiming) time.Duration { return t.buffered }},
		{"durable: + fsync at the end", func(t appendTiming) time.Duration { return t.durable }},
	} {
		lds, fds := pick(logT, kind.get), pick(fileT, kind.get)
		ld, fd := report.Median(lds), report.Median(fds)
		figure := fmt.Sprintf("Append, %s (%s of 100-byte records in 16 KiB batches per side, turns every MiB, median of %d)", kind.name, report.Bytes(bytes), rounds)
		runnel := fmt.Sprintf("%s, %.2fM rec/s%s", fmtMBps(mbps(bytes, ld)), float64(records)/ld.Seconds()/1e6, rangeMBps(bytes, lds))
		peer := fmt.Sprintf("write(2): %s, %.2fM rec/s%s", fmtMBps(mbps(bytes, fd)), float64(records)/fd.Seconds()/1e6, rangeMBps(bytes, fds))
		rows = append(rows, atLeast(figure, runnel, peer, fd.Seconds()/ld.Seconds(), 0.8))
	}
	return rows, nil
}

func pick(ts []appendTiming, get func(appendTiming) time.Duration) []time.Duration {
	ds := make([]time.Duration, len(ts))
	for i, t := range ts {
		ds[i] = get(t)
	}
	return ds
}

// appendRound is one round of benchAppendRatio. Opening and closing are not
// timed.
func appendRound(dir string, p *batchPool, n int64, fileFirst bool) (appendTiming, appendTiming, error) {
	logDir, fileName := filepath.Join(dir, "append-log"), filepath.Join(dir, "append-file")
	defer os.RemoveAll(logDir)
	defer os.Remove(fileName)
	l, err := log.Open(logDir, log.WithConfig(log.DefaultConfig()), log.WithLogger(logger))
	if err != nil {
		return appendTiming{}, appendTiming{}, err
	}
	defer l.Close()
	f, err := os.Create(fileName)
	if err != nil {
		return appendTiming{}, appendTiming{}, err
	}
	defer f.Close()
	lw := &writer{
		write: func(b []byte) error { _, err := l.Append(b, -1); return err },
		sync:  l.Flush,
	}
	fw := &writer{
		write: func(b []byte) error { _, err := f.Write(b); return err },
		sync:  f.Sync,
	}
	ws := []*writer{lw, fw}
	if fileFirst {
		ws = []*writer{fw, lw}
	}
	syscall.Sync() // no dirty pages of earlier figures
	if err := takeTurns(ws, p, n); err != nil {
		return appendTiming{}, appendTiming{}, err
	}
	for _, w := range ws {
		start := time.Now()
		if err := w.sync(); err != nil {
			return appendTiming{}, appendTiming{}, err
		}
		w.t.durable = w.t.buffered + time.Since(start)
	}
	return lw.t, fw.t, nil
}

// takeTurns writes n bytes of batches with each writer, interleaveBytes at
// a time, adding each writer's time to its t.buffered.
func takeTurns(ws []*writer, p *batchPool, n int64) error {
	perTurn := max(interleaveBytes/p.size, 1)
	total := int(p.batchesFor(n))
	for done := 0; done < total; done += perTurn {
		k := min(perTurn, total-done)
		for _, w := range ws {
			start := time.Now()
			for i := done; i < done+k; i++ {
				if err := w.write(p.batches[i%len(p.batches)]); err != nil {
					return fmt.Errorf("batch %d: %w", i, err)
				}
			}
			w.t.buffered += time.Since(start)
		}
	}
	return nil
}
