package log_test

// Benchmarks of the partition log, each beside a peer doing the same work
// with plain file I/O on the same disk, so that `go test -bench` shows the
// ratio directly:
//
//	BenchmarkAppend          vs BenchmarkWriteSyscall
//	BenchmarkReadSequential  vs BenchmarkReadFile
//	BenchmarkRandomRead, BenchmarkOffsetForTimestamp (sealed and active segment)
//
// The workload is logbench's (benchmarks/cmd/logbench): records with
// 100-byte values in batches of at most 16 KiB. The files live in
// b.TempDir(); appends start a fresh log every benchAppendSpan bytes so a
// long -benchtime does not fill the disk.

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel-io/runnel/log"
)

const (
	benchValueBytes = 100
	benchBatchMax   = 16 << 10
	benchPool       = 64        // distinct batches: 1 MiB
	benchAppendSpan = 256 << 20 // bytes per log (or file) before starting afresh
	benchChunk      = 1 << 20   // sequential read size
	benchSegment    = 64 << 20  // segment size of the read fixture
)

var benchLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// benchBatches builds n batches of 100-byte records, each with as many
// records as fit in 16 KiB; batch i has base timestamp ts0 + i*step.
func benchBatches(b *testing.B, n int, ts0, step int64) [][]byte {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	count := benchBatchMax / benchValueBytes
	for i := range out {
		for {
			out[i] = benchBatch(b, rng, count, ts0+int64(i)*step)
			if len(out[i]) <= benchBatchMax {
				break
			}
			count--
		}
	}
	return out
}

func benchBatch(b *testing.B, rng *rand.Rand, count int, ts int64) []byte {
	b.Helper()
	recs := make([]log.Record, count)
	for j := range recs {
		v := make([]byte, benchValueBytes)
		for k := range v {
			v[k] = byte(rng.Uint32())
		}
		recs[j] = log.Record{OffsetDelta: int32(j), TimestampDelta: int64(j), Value: v}
	}
	h := log.BatchHeader{BaseTimestamp: ts, MaxTimestamp: ts + int64(count-1), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LeaderEpoch: -1}
	batch, err := log.AppendBatch(nil, h, recs, log.CompressionNone)
	if err != nil {
		b.Fatal(err)
	}
	return batch
}

func benchOpen(b *testing.B, dir string, cfg log.Config) *log.Log {
	b.Helper()
	l, err := log.Open(dir, log.WithConfig(cfg), log.WithLogger(benchLogger))
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkAppend appends one batch per op to a log with the default
// config. Compare with BenchmarkWriteSyscall.
func BenchmarkAppend(b *testing.B) {
	batches := benchBatches(b, benchPool, 0, 0)
	root := b.TempDir()
	var l *log.Log
	var written int64
	fresh := func(i int) {
		if l != nil {
			l.Close()
			os.RemoveAll(l.Dir())
		}
		l = benchOpen(b, filepath.Join(root, fmt.Sprint(i)), log.DefaultConfig())
		written = 0
	}
	fresh(0)
	b.SetBytes(int64(len(batches[0])))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if written >= benchAppendSpan {
			b.StopTimer()
			fresh(i)
			b.StartTimer()
		}
		batch := batches[i%len(batches)]
		if _, err := l.Append(batch, -1); err != nil {
			b.Fatal(err)
		}
		written += int64(len(batch))
	}
	b.StopTimer()
	reportRecords(b, batches[0])
	l.Close()
}

// BenchmarkWriteSyscall is BenchmarkAppend's peer: the same batches written
// with write(2) to a plain file in the same kind of directory.
func BenchmarkWriteSyscall(b *testing.B) {
	batches := benchBatches(b, benchPool, 0, 0)
	root := b.TempDir()
	var f *os.File
	var written int64
	fresh := func(i int) {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
		var err error
		if f, err = os.Create(filepath.Join(root, fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
		written = 0
	}
	fresh(0)
	b.SetBytes(int64(len(batches[0])))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if written >= benchAppendSpan {
			b.StopTimer()
			fresh(i)
			b.StartTimer()
		}
		batch := batches[i%len(batches)]
		if _, err := f.Write(batch); err != nil {
			b.Fatal(err)
		}
		written += int64(len(batch))
	}
	b.StopTimer()
	reportRecords(b, batches[0])
	f.Close()
}

func reportRecords(b *testing.B, batch []byte) {
	h, err := log.ParseBatchHeader(batch)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(h.RecordCount)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// readFixture is a log of 1.5 segments of benchSegment bytes: offsets
// below sealedEnd are in a sealed segment (index read from its file), the
// rest in the active one (index in memory).
type readFixture struct {
	l          *log.Log
	sealedPath string // the sealed segment's file
	sealedEnd  int64  // first offset of the active segment
	tsFirst    int64  // first batch's timestamp
	tsLast     int64  // last batch's max timestamp
}

func newReadFixture(b *testing.B) *readFixture {
	b.Helper()
	dir := b.TempDir()
	cfg := log.DefaultConfig()
	cfg.SegmentBytes = benchSegment
	l := benchOpen(b, dir, cfg)
	b.Cleanup(func() { l.Close() })
	const ts0, step = 1_700_000_000_000, 1000
	batches := benchBatches(b, benchPool, 0, 0)
	n := benchSegment * 3 / 2 / len(batches[0])
	fx := &readFixture{l: l, tsFirst: ts0}
	for i := range n {
		// A fresh timestamp per batch, so the time index has something to find.
		batch := benchBatches1(b, batches[i%len(batches)], ts0+int64(i)*step)
		if _, err := l.Append(batch, -1); err != nil {
			b.Fatal(err)
		}
		if l.NumSegments() == 2 && fx.sealedEnd == 0 {
			fx.sealedEnd = l.EndOffset() - 1 - int64(mustHeader(b, batch).LastOffsetDelta)
		}
	}
	fx.tsLast = ts0 + int64(n-1)*step
	l.SetHighWatermark(l.EndOffset())
	fx.sealedPath = filepath.Join(dir, fmt.Sprintf("%020d.log", 0))
	if l.NumSegments() != 2 || fx.sealedEnd == 0 {
		b.Fatalf("fixture has %d segments, active from %d", l.NumSegments(), fx.sealedEnd)
	}
	return fx
}

// benchBatches1 re-stamps a batch's timestamps (and so its CRC) by
// rebuilding it.
func benchBatches1(b *testing.B, batch []byte, ts int64) []byte {
	h, recs, err := log.DecodeRecords(batch)
	if err != nil {
		b.Fatal(err)
	}
	h.MaxTimestamp = ts + (h.MaxTimestamp - h.BaseTimestamp)
	h.BaseTimestamp = ts
	out, err := log.AppendBatch(nil, h, recs, log.CompressionNone)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func mustHeader(b *testing.B, batch []byte) log.BatchHeader {
	h, err := log.ParseBatchHeader(batch)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkReadSequential reads the sealed segment whole per op, in 1 MiB
// Reads copied into a reused buffer, as a catching-up consumer does.
// Compare with BenchmarkReadFile.
func BenchmarkReadSequential(b *testing.B) {
	fx := newReadFixture(b)
	fi, err := os.Stat(fx.sealedPath)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, benchChunk+benchBatchMax)
	lim := log.ReadLimit{MaxBytes: benchChunk, MaxOffset: fx.l.HighWatermark(), MinOne: true}
	b.SetBytes(fi.Size())
	for b.Loop() {
		var total int64
		for off := int64(0); off < fx.sealedEnd; {
			s, err := fx.l.Read(off, lim)
			if err != nil {
				b.Fatal(err)
			}
			if buf, err = s.AppendTo(buf[:0]); err != nil {
				b.Fatal(err)
			}
			s.Close()
			for it := log.NewBatchIter(buf); ; {
				h, _, ok := it.Next()
				if !ok {
					break
				}
				off = h.NextOffset()
			}
			total += int64(len(buf))
		}
		if total != fi.Size() {
			b.Fatalf("read %d bytes, segment has %d", total, fi.Size())
		}
	}
}

// BenchmarkReadFile is BenchmarkReadSequential's peer: pread of the same
// segment file in 1 MiB chunks.
func BenchmarkReadFile(b *testing.B) {
	fx := newReadFixture(b)
	f, err := os.Open(fx.sealedPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, benchChunk)
	b.SetBytes(fi.Size())
	for b.Loop() {
		var pos int64
		for pos < fi.Size() {
			n, err := f.ReadAt(buf, pos)
			pos += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkRandomRead fetches up to 16 KiB (one batch) at a random offset
// per op, in the sealed and in the active segment.
func BenchmarkRandomRead(b *testing.B) {
	fx := newReadFixture(b)
	for _, seg := range []struct {
		name     string
		from, to int64
	}{{"sealed", 0, fx.sealedEnd}, {"active", fx.sealedEnd, fx.l.EndOffset()}} {
		b.Run(seg.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 4))
			buf := make([]byte, 0, benchBatchMax)
			lim := log.ReadLimit{MaxBytes: benchBatchMax, MaxOffset: fx.l.HighWatermark(), MinOne: true}
			for b.Loop() {
				s, err := fx.l.Read(seg.from+rng.Int64N(seg.to-seg.from), lim)
				if err != nil {
					b.Fatal(err)
				}
				if buf, err = s.AppendTo(buf[:0]); err != nil || len(buf) == 0 {
					b.Fatalf("read %d bytes: %v", len(buf), err)
				}
				s.Close()
			}
		})
	}
}

// BenchmarkOffsetForTimestamp looks up a random timestamp per op (ListOffsets
// by time), landing in the sealed or in the active segment.
func BenchmarkOffsetForTimestamp(b *testing.B) {
	fx := newReadFixture(b)
	split := fx.tsFirst + (fx.tsLast-fx.tsFirst)*2/3 // about where the active segment starts
	for _, seg := range []struct {
		name     string
		from, to int64
	}{{"sealed", fx.tsFirst, split - 10_000}, {"active", split + 10_000, fx.tsLast}} {
		b.Run(seg.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(5, 6))
			for b.Loop() {
				_, _, found, err := fx.l.OffsetForTimestamp(seg.from + rng.Int64N(seg.to-seg.from))
				if err != nil || !found {
					b.Fatalf("found %v, err %v", found, err)
				}
			}
		})
	}
}
