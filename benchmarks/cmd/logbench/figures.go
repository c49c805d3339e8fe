package main

import (
	"errors"
	"fmt"
	"github.com/runnel-io/runnel/benchmarks/internal/report"
	"os"
	"path/filepath"
	"time"

	"github.com/runnel-io/runnel/benchmarks/internal/host"
)

var runStart = time.Now()

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "logbench: [%6.1fs] %s\n", time.Since(runStart).Seconds(), fmt.Sprintf(format, args...))
}

// figures runs every figure in order and returns the table's rows and the
// notes printed under it.
func figures(root string, p params) ([]row, []string, error) {
	pool, err := newBatchPool(1)
	if err != nil {
		return nil, nil, err
	}
	notes := []string{fmt.Sprintf("Workload: batches of %d records with %d-byte values and no key, %d bytes each, uncompressed; default log config (1 GiB segments, 4 KiB index interval, no fsync policy). MB = 10^6 bytes.",
		pool.records, recordValueBytes, pool.size)}
	if p.cold {
		if err := dropCaches(); errors.Is(err, host.ErrNoDrop) {
			p.cold = false
			notes = append(notes, "Cold figures skipped: "+err.Error()+".")
		} else if err != nil {
			return nil, nil, err
		}
	}
	progress("append vs write(2): %s per side, %d rounds", report.Bytes(p.appendBytes), p.rounds)
	rows, err := benchAppendRatio(root, pool, p.appendBytes, p.rounds)
	if err != nil {
		return nil, nil, fmt.Errorf("append ratio: %w", err)
	}
	sized, err := sizeFigures(root, pool, p)
	if err != nil {
		return nil, nil, err
	}
	rows = append(rows, sized...)
	progress("recovery: crash with ≤ %s unflushed", report.Bytes(p.recoverMax))
	crashDir := filepath.Join(root, "crash")
	rec, err := benchRecovery(crashDir, pool.batchesFor(p.recoverMax-int64(pool.size))*int64(pool.size), p.rounds, p.cold)
	if err != nil {
		return nil, nil, fmt.Errorf("recovery: %w", err)
	}
	os.RemoveAll(crashDir)
	rows = append(rows, rec...)
	if p.cold {
		notes = append(notes, "Cold: `sync; echo 3 > /proc/sys/vm/drop_caches` before each cold measurement.")
	}
	return rows, notes, nil
}

// sizeFigures builds the small and the big log and runs the figures that
// use them: sequential read, and size independence of append, random
// reads and memory.
func sizeFigures(root string, pool *batchPool, p params) ([]row, error) {
	small := &sizedLog{name: fmtSize(p.small), dir: filepath.Join(root, "small")}
	big := &sizedLog{name: fmtSize(p.big), dir: filepath.Join(root, "big")}
	defer os.RemoveAll(small.dir)
	defer os.RemoveAll(big.dir)
	var rows []row
	for _, s := range []*sizedLog{small, big} {
		n := p.small
		if s == big {
			n = p.big
		}
		progress("building the %s log", s.name)
		l, d, err := buildLog(s.dir, pool, n)
		if err != nil {
			return nil, fmt.Errorf("build %s log: %w", s.name, err)
		}
		defer l.Close()
		s.l = l
		if s == big {
			rows = append(rows, info(fmt.Sprintf("Building the %s log: sustained append, dirty-page writeback throttling included", s.name),
				fmtMBps(mbps(l.Size(), d)), "—", "—"))
		}
	}
	progress("size independence: append %s per log, %d rounds", report.Bytes(p.growBytes), p.rounds)
	r, err := benchGrowAppend(small, big, pool, p.growBytes, p.rounds)
	if err != nil {
		return nil, fmt.Errorf("append at size: %w", err)
	}
	rows = append(rows, r)
	progress("size independence: %d random reads per log, warm", p.randomReads)
	rr, err := benchRandomWarm(small, big, p.randomReads)
	if err != nil {
		return nil, err
	}
	rows = append(rows, rr...)
	progress("sequential read of the %s log's first segment", big.name)
	sr, err := benchSeqRead(big.l, big.dir, p.chunk, p.rounds, p.cold)
	if err != nil {
		return nil, fmt.Errorf("sequential read: %w", err)
	}
	rows = append(rows, sr...)
	for _, s := range []*sizedLog{small, big} {
		if err := s.l.Close(); err != nil {
			return nil, fmt.Errorf("close %s log: %w", s.name, err)
		}
	}
	progress("size independence: memory in fresh processes")
	pr, err := benchProbes(small, big, p.probeReads, false)
	if err != nil {
		return nil, err
	}
	rows = append(rows, pr...)
	if p.cold {
		progress("size independence: cold random reads in fresh processes")
		if pr, err = benchProbes(small, big, p.probeReads, true); err != nil {
			return nil, err
		}
		rows = append(rows, pr...)
	}
	return rows, nil
}

// fmtSize names a log size the way the issue does: 10 MB, 10 GiB.
func fmtSize(n int64) string {
	if n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	if n%1e6 == 0 {
		return fmt.Sprintf("%d MB", n/1e6)
	}
	return report.Bytes(n)
}
