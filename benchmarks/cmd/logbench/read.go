package main

import (
	"errors"
	"fmt"
	"github.com/runnel-io/runnel/benchmarks/internal/report"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runnel-io/runnel/log"
)

// segmentFile is one segment's log file, found by listing the directory.
type segmentFile struct {
	base int64
	path string
	size int64
}

// listSegments returns dir's segment files in offset order. The log's file
// naming (20-digit base offset + ".log") is Kafka's, so this needs no
// access to the package's internals.
func listSegments(dir string) ([]segmentFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segmentFile
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || len(stem) != 20 {
			continue
		}
		base, err := strconv.ParseInt(stem, 10, 64)
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		segs = append(segs, segmentFile{base: base, path: filepath.Join(dir, e.Name()), size: fi.Size()})
	}
	slices.SortFunc(segs, func(a, b segmentFile) int { return int(a.base - b.base) })
	return segs, nil
}

// A stepper reads a range one chunk per step.
type stepper interface {
	// step reads the next chunk and returns its size; done is set after
	// the last one.
	step() (n int64, done bool, err error)
}

// logStepper reads offsets [off, to) as a consumer does: Read of up to a
// chunk, copied into a reused buffer, the next offset taken from the last
// batch.
type logStepper struct {
	l       *log.Log
	off, to int64
	lim     log.ReadLimit
	buf     []byte
}

func newLogStepper(l *log.Log, from, to int64, chunk int) *logStepper {
	return &logStepper{l: l, off: from, to: to, buf: make([]byte, 0, chunk+batchBytesMax),
		lim: log.ReadLimit{MaxBytes: chunk, MaxOffset: l.HighWatermark(), MinOne: true}}
}

func (s *logStepper) step() (int64, bool, error) {
	sl, err := s.l.Read(s.off, s.lim)
	if err != nil {
		return 0, false, err
	}
	s.buf, err = sl.AppendTo(s.buf[:0])
	sl.Close()
	if err != nil {
		return 0, false, err
	}
	if len(s.buf) == 0 {
		return 0, false, fmt.Errorf("read at %d: nothing below %d", s.off, s.to)
	}
	it := log.NewBatchIter(s.buf)
	for {
		h, _, ok := it.Next()
		if !ok {
			break
		}
		s.off = h.NextOffset()
	}
	return int64(len(s.buf)), s.off >= s.to, nil
}

// fileStepper is logStepper's peer: pread of a file in chunks of the same
// size.
type fileStepper struct {
	f   *os.File
	pos int64
	buf []byte
}

func (s *fileStepper) step() (int64, bool, error) {
	n, err := s.f.ReadAt(s.buf, s.pos)
	s.pos += int64(n)
	if err == io.EOF || n < len(s.buf) {
		return int64(n), true, nil
	}
	return int64(n), false, err
}

// interleave runs two steppers to the end, taking turns a step at a time
// (b first when bFirst), and returns each one's time and bytes.
func interleave(a, b stepper, bFirst bool) (da, db time.Duration, na, nb int64, err error) {
	type side struct {
		s    stepper
		d    *time.Duration
		n    *int64
		done bool
	}
	sides := []*side{{a, &da, &na, false}, {b, &db, &nb, false}}
	if bFirst {
		sides[0], sides[1] = sides[1], sides[0]
	}
	for steps := 0; !sides[0].done || !sides[1].done; steps++ {
		if steps > 1<<24 {
			return da, db, na, nb, errors.New("interleave: no end in sight")
		}
		for _, sd := range sides {
			if sd.done {
				continue
			}
			start := time.Now()
			n, done, err := sd.s.step()
			*sd.d += time.Since(start)
			*sd.n += n
			sd.done = done
			if err != nil {
				return da, db, na, nb, err
			}
		}
	}
	return da, db, na, nb, nil
}

// benchSeqRead reads the big log's first segment through the log and
// straight from its file with pread. Warm, the two take turns every chunk
// (median of rounds, after an untimed pass). Cold, each reads the whole
// segment right after the page cache is dropped, in alternating order.
// Both always read the same file: how a file was written (16 KiB appends
// here) decides the size of its page-cache folios, and so the copy speed.
func benchSeqRead(l *log.Log, dir string, chunk, rounds int, cold bool) ([]row, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	seg, to := segs[0], l.EndOffset()
	state := "the active segment: its index is in memory"
	if len(segs) > 1 {
		to = segs[1].base
		state = "a sealed segment: its index is read from its file"
	}
	f, err := os.Open(seg.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	viaLog := func() stepper { return newLogStepper(l, seg.base, to, chunk) }
	viaFile := func() stepper { return &fileStepper{f: f, buf: make([]byte, chunk)} }
	check := func(what string, n int64) error {
		if n != seg.size {
			return fmt.Errorf("read %d bytes %s, segment has %d", n, what, seg.size)
		}
		return nil
	}
	var ld, fd []time.Duration
	for r := -1; r < rounds; r++ {
		a, b, an, bn, err := interleave(viaLog(), viaFile(), r%2 == 1)
		if err = errors.Join(err, check("through the log", an), check("from the file", bn)); err != nil {
			return nil, err
		}
		if r >= 0 {
			ld, fd = append(ld, a), append(fd, b)
		}
	}
	figure := func(temp string, n int) string {
		return fmt.Sprintf("Sequential read, %s (%s segment, %s chunks; %s; median of %d)", temp, report.Bytes(seg.size), report.Bytes(int64(chunk)), state, n)
	}
	rows := []row{seqRow(figure("page cache warm, turns every chunk", rounds), seg.size, ld, fd)}
	if !cold {
		return rows, nil
	}
	whole := func(mk func() stepper, what string) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			d, n, err := runStepper(mk())
			return d, errors.Join(err, check(what, n))
		}
	}
	// The first read after the warm figures' big page cache is dropped is
	// slow whoever does it (the VM hands memory back meanwhile): untimed.
	if err := dropCaches(); err != nil {
		return nil, err
	}
	if _, err := whole(viaFile, "from the file")(); err != nil {
		return nil, err
	}
	if ld, fd, err = alternate(whole(viaLog, "through the log"), whole(viaFile, "from the file"), rounds, dropCaches); err != nil {
		return nil, err
	}
	return append(rows, seqRow(figure("cold: caches dropped before each read", rounds), seg.size, ld, fd)), nil
}

// runStepper runs s to the end and returns its time and bytes.
func runStepper(s stepper) (time.Duration, int64, error) {
	start := time.Now()
	var total int64
	for steps := 0; ; steps++ {
		n, done, err := s.step()
		total += n
		if err != nil || done {
			return time.Since(start), total, err
		}
		if steps > 1<<24 {
			return 0, total, errors.New("stepper: no end in sight")
		}
	}
}

func seqRow(figure string, size int64, ld, fd []time.Duration) row {
	l, f := report.Median(ld), report.Median(fd)
	return atLeast(figure, fmtMBps(mbps(size, l))+rangeMBps(size, ld), "pread: "+fmtMBps(mbps(size, f))+rangeMBps(size, fd),
		f.Seconds()/l.Seconds(), 0.8)
}

// alternate runs a and b rounds times each, a first in even rounds and b
// first in odd ones, calling before (if set) ahead of every run.
func alternate(a, b func() (time.Duration, error), rounds int, before func() error) (da, db []time.Duration, err error) {
	for r := range rounds {
		order := []bool{true, false}
		if r%2 == 1 {
			order = []bool{false, true}
		}
		for _, isA := range order {
			if before != nil {
				if err := before(); err != nil {
					return nil, nil, err
				}
			}
			f := b
			if isA {
				f = a
			}
			d, err := f()
			if err != nil {
				return nil, nil, err
			}
			if isA {
				da = append(da, d)
			} else {
				db = append(db, d)
			}
		}
	}
	return da, db, nil
}

// randomReads reads one fetch of up to maxBytes at n uniformly random
// offsets and returns each read's latency.
func randomReads(l *log.Log, rng *rand.Rand, n, maxBytes int) ([]time.Duration, error) {
	start, end := l.StartOffset(), l.EndOffset()
	lat := make([]time.Duration, n)
	for i := range lat {
		off := start + rng.Int64N(end-start)
		t := time.Now()
		b, err := l.ReadBatches(off, maxBytes, end)
		lat[i] = time.Since(t)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("random read at %d returned nothing", off)
		}
	}
	return lat, nil
}
