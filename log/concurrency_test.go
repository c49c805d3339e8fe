package log

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentReadersWriterRetentionCompaction runs readers at random
// offsets while one writer appends (rolling segments, enforcing
// retention.bytes, deleting records) and a compactor compacts. Every
// record's value is its own offset, so a reader can tell a wrong byte
// from a right one. Every read must be whole valid batches holding the
// offset asked for (or the next surviving record), or ErrOffsetOutOfRange
// below the log start.
func TestConcurrentReadersWriterRetentionCompaction(t *testing.T) {
	const (
		writes     = 2000
		readers    = 4
		readsMax   = 20000 // per reader; they stop when the writer is done
		keys       = 64
		recordsMax = 5
	)
	cfg := smallConfig()
	cfg.SegmentBytes = 8 << 10
	cfg.IndexIntervalBytes = 256
	cfg.CleanupPolicy = CleanupCompactDelete
	cfg.RetentionTime = -1
	cfg.RetentionBytes = 64 << 10
	cfg.SegmentTime = 0
	l := openTestLog(t, t.TempDir(), WithConfig(cfg))
	defer l.Close()

	var (
		wg          sync.WaitGroup
		stop        atomic.Bool
		errs        = make(chan error, readers+2)
		reads       atomic.Int64
		outOfRange  atomic.Int64
		emptyReads  atomic.Int64
		passes      atomic.Int64
		compacted   atomic.Int64
		deletedSegs atomic.Int64
	)
	// Every 250 appends the writer waits for a compaction pass, so that a
	// fast writer cannot finish before compaction gets going.
	passDone := make(chan struct{}, 1)
	compactorExit := make(chan struct{})
	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		defer stop.Store(true)
		errs <- concurrentWriter(l, writes, keys, recordsMax, &deletedSegs, func() {
			select {
			case <-passDone:
			case <-compactorExit:
			}
		})
	}()
	wg.Add(1)
	go func() { // the compactor
		defer wg.Done()
		defer close(compactorExit)
		for !stop.Load() {
			st, err := l.Compact()
			if err != nil {
				errs <- fmt.Errorf("compact: %w", err)
				return
			}
			passes.Add(1)
			compacted.Add(st.RecordsRemoved)
			if st.Segments == 0 {
				runtime.Gosched()
				continue
			}
			select {
			case passDone <- struct{}{}:
			default:
			}
		}
		errs <- nil
	}()
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			for n := 0; n < readsMax && !stop.Load(); n++ {
				if l.HighWatermark() <= l.StartOffset() {
					runtime.Gosched() // nothing committed yet
					n--
					continue
				}
				empty, oor, err := concurrentRead(l, rng)
				if err != nil {
					errs <- fmt.Errorf("reader %d, read %d: %w", i, n, err)
					stop.Store(true)
					return
				}
				reads.Add(1)
				if empty {
					emptyReads.Add(1)
				}
				if oor {
					outOfRange.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("%d reads (%d out of range, %d empty), %d compaction passes removed %d records, %d segments deleted; log [%d, %d) in %d segments",
		reads.Load(), outOfRange.Load(), emptyReads.Load(), passes.Load(), compacted.Load(), deletedSegs.Load(),
		l.StartOffset(), l.EndOffset(), l.NumSegments())
	if deletedSegs.Load() == 0 || compacted.Load() == 0 || outOfRange.Load() == 0 || reads.Load() < readers*100 {
		t.Fatalf("the test did not exercise retention, compaction and reads enough")
	}
	// Every slice was closed: only the log holds its segments.
	l.bg.Wait()
	for _, s := range *l.segs.Load() {
		if n := s.refs.Load(); n != 1 {
			t.Errorf("segment %d has %d references, want 1", s.base, n)
		}
	}
	for _, r := range logRecords(t, l) {
		if string(r.Value) != strconv.FormatInt(r.Off, 10) {
			t.Fatalf("record %v holds another offset's value", r)
		}
	}
}

// concurrentWriter appends batches of records whose values are their
// offsets, commits each, and applies retention and DeleteRecords now and
// then, and calls waitForPass every 250 appends.
func concurrentWriter(l *Log, writes, keys, recordsMax int, deleted *atomic.Int64, waitForPass func()) error {
	rng := rand.New(rand.NewPCG(3, 4))
	next := l.EndOffset()
	for i := range writes {
		recs := make([]Record, 1+rng.IntN(recordsMax))
		for j := range recs {
			recs[j] = Record{OffsetDelta: int32(j), TimestampDelta: int64(j),
				Key:   fmt.Appendf(nil, "key-%d", rng.IntN(keys)),
				Value: strconv.AppendInt(nil, next+int64(j), 10)}
		}
		h := BatchHeader{BaseTimestamp: int64(1000 + i), MaxTimestamp: int64(1000 + i + len(recs) - 1),
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
		b, err := AppendBatch(nil, h, recs, Compression(rng.IntN(5)))
		if err != nil {
			return err
		}
		res, err := l.Append(b, 1)
		if err != nil {
			return fmt.Errorf("append %d: %w", i, err)
		}
		if res.BaseOffset != next {
			return fmt.Errorf("append %d at %d, want %d", i, res.BaseOffset, next)
		}
		next = res.LastOffset + 1
		logCommit(l)
		if i%20 == 0 {
			n, err := l.EnforceRetention()
			if err != nil {
				return fmt.Errorf("retention: %w", err)
			}
			deleted.Add(int64(n))
		}
		if i%250 == 249 {
			waitForPass()
		}
		if i%300 == 150 {
			if err := l.DeleteRecords(l.StartOffset() + 7); err != nil {
				return fmt.Errorf("delete records: %w", err)
			}
			// And once past a segment boundary, so that whole segments go
			// however much compaction has shrunk the log below
			// retention.bytes.
			if segs := *l.segs.Load(); len(segs) > 2 {
				before := l.NumSegments()
				if err := l.DeleteRecords(segs[1].base); err != nil {
					return fmt.Errorf("delete records: %w", err)
				}
				deleted.Add(int64(before - l.NumSegments()))
			}
		}
	}
	return nil
}

// concurrentRead reads at a random offset around the log's range and
// checks what comes back.
func concurrentRead(l *Log, rng *rand.Rand) (empty, outOfRange bool, err error) {
	start, hw := l.StartOffset(), l.HighWatermark()
	off := start + rng.Int64N(hw-start)
	if rng.IntN(8) == 0 {
		off = max(0, start-1-rng.Int64N(20)) // below the start, unless it is 0
	}
	sl, err := l.Read(off, ReadLimit{MaxBytes: 1 + rng.IntN(16<<10), MaxOffset: hw, MinOne: true})
	if err != nil {
		if errors.Is(err, ErrOffsetOutOfRange) && off < l.StartOffset() {
			return false, true, nil
		}
		return false, false, fmt.Errorf("read at %d (log [%d, %d)): %w", off, start, hw, err)
	}
	buf, err := sl.AppendTo(nil)
	first := sl.FirstOffset
	sl.Close()
	if err != nil {
		return false, false, fmt.Errorf("read at %d: %w", off, err)
	}
	if len(buf) == 0 {
		if off < hw {
			return true, false, checkNothingBelow(l, off, hw)
		}
		return true, false, nil
	}
	it := NewBatchIter(buf)
	prevNext := int64(-1)
	for {
		h, b, ok := it.Next()
		if !ok {
			break
		}
		if _, err := ValidateBatch(b); err != nil {
			return false, false, fmt.Errorf("read at %d: batch at %d: %w", off, h.BaseOffset, err)
		}
		if prevNext < 0 && (h.BaseOffset != first || h.LastOffset() < off) {
			return false, false, fmt.Errorf("read at %d: first batch [%d, %d], slice says %d", off, h.BaseOffset, h.LastOffset(), first)
		}
		if h.BaseOffset < prevNext || h.LastOffset() >= hw {
			return false, false, fmt.Errorf("read at %d below %d: batch [%d, %d] after %d", off, hw, h.BaseOffset, h.LastOffset(), prevNext)
		}
		_, recs, err := DecodeRecords(b)
		if err != nil {
			return false, false, fmt.Errorf("read at %d: batch at %d: %w", off, h.BaseOffset, err)
		}
		for _, r := range recs {
			if o := h.BaseOffset + int64(r.OffsetDelta); string(r.Value) != strconv.FormatInt(o, 10) {
				return false, false, fmt.Errorf("read at %d: record %d holds %q", off, o, r.Value)
			}
		}
		prevNext = h.NextOffset()
	}
	if it.Err() != nil || it.Pos() != len(buf) {
		return false, false, fmt.Errorf("read at %d: %d of %d bytes in whole batches: %v", off, it.Pos(), len(buf), it.Err())
	}
	return false, false, nil
}

// checkNothingBelow checks an empty read at off below hw: records below hw
// are only ever removed, never added, so if a read now finds one in
// [off, hw) the empty read missed it. (One may legitimately be empty: a
// record below hw superseded and compacted away after hw was taken.)
func checkNothingBelow(l *Log, off, hw int64) error {
	buf, err := l.ReadBatches(off, 1<<20, l.EndOffset())
	if errors.Is(err, ErrOffsetOutOfRange) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("re-read at %d: %w", off, err)
	}
	it := NewBatchIter(buf)
	for {
		h, b, ok := it.Next()
		if !ok || h.BaseOffset >= hw {
			return nil
		}
		_, recs, err := DecodeRecords(b)
		if err != nil {
			return fmt.Errorf("re-read at %d: %w", off, err)
		}
		for _, r := range recs {
			if o := h.BaseOffset + int64(r.OffsetDelta); o >= off && o < hw {
				return fmt.Errorf("read at %d below %d was empty, but record %d is there", off, hw, o)
			}
		}
	}
}
