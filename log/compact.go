package log

import (
	"fmt"
	"hash/maphash"
	"slices"
	"time"
)

// CompactStats describes one compaction pass.
type CompactStats struct {
	Segments       int   // segments examined
	Rewritten      int   // segments replaced by a smaller copy
	RecordsRemoved int64 // superseded records and expired tombstones dropped
	BytesBefore    int64
	BytesAfter     int64
}

// keyHash identifies a key in the compaction map: 128 bits of two seeded
// hashes, so that a million keys collide with negligible probability (as
// Kafka's cleaner relies on a 128-bit digest), in 24 bytes per entry
// however long the keys.
type keyHash [2]uint64

type keyHasher struct{ a, b maphash.Seed }

func newKeyHasher() keyHasher { return keyHasher{maphash.MakeSeed(), maphash.MakeSeed()} }

func (k keyHasher) sum(key []byte) keyHash {
	return keyHash{maphash.Bytes(k.a, key), maphash.Bytes(k.b, key)}
}

// Compact runs one compaction pass (cleanup.policy compact): for every key,
// only the record with the highest offset survives in the sealed segments
// below the high watermark whose records are all older than
// min.compaction.lag.ms; a tombstone (null value) that is the latest for
// its key is dropped once its timestamp is older than delete.retention.ms.
// Offsets never change (gaps appear); compressed batches are rewritten with
// their codec; the active segment is never touched. Appends and reads go
// on meanwhile: the writer's lock is taken only to swap each cleaned
// segment in.
func (l *Log) Compact() (CompactStats, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	var st CompactStats
	l.mu.Lock()
	closed := l.mu.closed
	l.mu.Unlock()
	if closed {
		return st, ErrClosed
	}
	cfg := l.cfg.Load()
	now := l.now()
	segs := l.cleanableSegments(cfg, now)
	defer func() {
		for _, s := range segs {
			s.unref()
		}
	}()
	if len(segs) == 0 {
		return st, nil
	}
	gen := l.truncations.Load()
	hasher := newKeyHasher()
	latest := make(map[keyHash]int64)
	for _, s := range segs {
		if err := s.eachRecord(func(h *BatchHeader, r *Record) {
			if r.Key != nil {
				latest[hasher.sum(r.Key)] = h.BaseOffset + int64(r.OffsetDelta)
			}
		}); err != nil {
			return st, err
		}
	}
	tombstoneCutoff := now.Add(-cfg.DeleteRetention).UnixMilli()
	keep := func(h *BatchHeader, r *Record) bool {
		if r.Key == nil {
			return true
		}
		if latest[hasher.sum(r.Key)] != h.BaseOffset+int64(r.OffsetDelta) {
			return false
		}
		ts := h.BaseTimestamp + r.TimestampDelta
		if h.LogAppendTime() {
			ts = h.MaxTimestamp // the broker's time, that of every record
		}
		return r.Value != nil || ts >= tombstoneCutoff
	}
	for _, s := range segs {
		st.Segments++
		st.BytesBefore += s.size.Load()
		cleaned, removed, err := l.cleanSegment(s, keep, cfg.IndexIntervalBytes)
		if err != nil {
			return st, err
		}
		if cleaned == nil {
			st.BytesAfter += s.size.Load()
			continue
		}
		swapped, err := l.swapIn(s, cleaned, gen)
		if err != nil {
			return st, err
		}
		if swapped {
			st.Rewritten++
			st.RecordsRemoved += removed
			st.BytesAfter += cleaned.size.Load()
		}
	}
	return st, nil
}

// cleanableSegments returns the sealed segments wholly below the high
// watermark and older than min.compaction.lag.ms, each with a reference.
func (l *Log) cleanableSegments(cfg *Config, now time.Time) []*segment {
	segs := *l.segs.Load()
	hw := l.hw.Load()
	lagCutoff := now.Add(-cfg.MinCompactionLag).UnixMilli()
	var out []*segment
	for i := 0; i+1 < len(segs); i++ {
		s := segs[i]
		if segs[i+1].base > hw || !s.sealed.Load() || s.maxTimestamp() > lagCutoff {
			break
		}
		if !s.tryRef() {
			break
		}
		out = append(out, s)
	}
	return out
}

// eachRecord decodes every record of a sealed segment in order.
func (s *segment) eachRecord(fn func(*BatchHeader, *Record)) error {
	return s.eachBatch(func(h *BatchHeader, b []byte) error {
		if h.Control() {
			return nil
		}
		_, recs, err := DecodeRecords(b)
		if err != nil {
			return fmt.Errorf("log: compact segment %d at offset %d: %w", s.base, h.BaseOffset, err)
		}
		for i := range recs {
			fn(h, &recs[i])
		}
		return nil
	})
}

// eachBatch reads every batch of a sealed segment in order.
func (s *segment) eachBatch(fn func(*BatchHeader, []byte) error) error {
	size := s.size.Load()
	buf := make([]byte, 0, 1<<20)
	for pos := int64(0); pos < size; {
		h, err := s.readHeaderAt(pos, size)
		if err != nil {
			return err
		}
		if cap(buf) < h.Size() {
			buf = make([]byte, 0, h.Size())
		}
		b := buf[:h.Size()]
		if err := s.readAt(b, pos); err != nil {
			return err
		}
		if err := fn(&h, b); err != nil {
			return err
		}
		pos += int64(h.Size())
	}
	return nil
}

// cleanSegment writes a copy of s without the records keep rejects, as
// "<base>.log.cleaned" with its indexes, synced. It returns nil when
// nothing would be removed.
func (l *Log) cleanSegment(s *segment, keep func(*BatchHeader, *Record) bool, intervalBytes int) (*segment, int64, error) {
	var removed int64
	// A first pass counts, so that a clean segment is not rewritten.
	if err := s.eachRecord(func(h *BatchHeader, r *Record) {
		if !keep(h, r) {
			removed++
		}
	}); err != nil {
		return nil, 0, err
	}
	if removed == 0 {
		return nil, 0, nil
	}
	c := newSegmentStruct(l.fs, l.dir, s.base)
	f, err := l.fs.Create(c.path(logSuffix + cleanedSuffix))
	if err != nil {
		return nil, 0, fmt.Errorf("log: create cleaned segment %d: %w", s.base, err)
	}
	c.file = f
	fail := func(err error) (*segment, int64, error) {
		c.closeFiles()
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			l.fs.Remove(c.path(suffix + cleanedSuffix))
		}
		return nil, 0, err
	}
	var out []byte
	err = s.eachBatch(func(h *BatchHeader, b []byte) error {
		out = out[:0]
		if h.Control() {
			out = append(out, b...)
		} else {
			_, recs, err := DecodeRecords(b)
			if err != nil {
				return err
			}
			kept := slices.DeleteFunc(recs, func(r Record) bool { return !keep(h, &r) })
			switch {
			case len(kept) == 0:
				return nil
			case len(kept) == len(recs):
				out = append(out, b...)
			default:
				if out, err = AppendBatch(out, *h, kept, h.Compression()); err != nil {
					return err
				}
			}
		}
		nh, err := ValidateBatch(out)
		if err != nil {
			return fmt.Errorf("log: cleaned batch at %d fails validation: %w", h.BaseOffset, err)
		}
		return c.appendBatch(out, &nh, intervalBytes, time.Time{})
	})
	if err != nil {
		return fail(err)
	}
	if c.size.Load() == 0 {
		// An emptied segment keeps its age (in its time index), so that
		// retention.ms still deletes it and the segments after it.
		c.w.maxTs, c.w.maxTsBase = s.maxTimestamp(), s.base
		c.maxTs.Store(c.w.maxTs)
	}
	if err := c.sealTo(cleanedSuffix); err != nil {
		return fail(err)
	}
	if err := c.sync(); err != nil {
		return fail(err)
	}
	return c, removed, nil
}

// sealTo seals the segment with its index files named with suffix.
func (s *segment) sealTo(suffix string) error {
	s.maybeTimeEntry()
	if err := s.offIdx.writeFile(s.fs, s.path(indexSuffix+suffix)); err != nil {
		return err
	}
	if err := s.timeIdx.writeFile(s.fs, s.path(timeIndexSuffix+suffix)); err != nil {
		return err
	}
	s.sealed.Store(true)
	return nil
}

// swapIn replaces old by its cleaned copy: the cleaned log file is renamed
// to ".swap" (the commit point: after a crash, Open completes the swap),
// then the indexes and the log file take the original names. It gives up
// (and removes the copy) if old left the log or the log was truncated
// while it was being cleaned.
func (l *Log) swapIn(old, cleaned *segment, gen uint64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	segs := *l.segs.Load()
	i := slices.Index(segs, old)
	if i < 0 || l.truncations.Load() != gen || l.mu.closed || l.mu.failed != nil {
		cleaned.closeFiles()
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			l.fs.Remove(cleaned.path(suffix + cleanedSuffix))
		}
		return false, nil
	}
	base := cleaned.path(logSuffix)
	steps := [][2]string{
		{base + cleanedSuffix, base + swapSuffix},
		{cleaned.path(indexSuffix + cleanedSuffix), cleaned.path(indexSuffix)},
		{cleaned.path(timeIndexSuffix + cleanedSuffix), cleaned.path(timeIndexSuffix)},
		{base + swapSuffix, base},
	}
	for k, st := range steps {
		if err := l.fs.Rename(st[0], st[1]); err != nil {
			err = fmt.Errorf("log: swap cleaned segment %d in: %w", old.base, err)
			if k > 0 {
				// Past the commit point: the directory is left for Open
				// to finish; stop writing until then.
				l.mu.failed = fmt.Errorf("%w: %v", ErrLogFailed, err)
			}
			return false, err
		}
		if k == 0 {
			if err := l.fs.SyncDir(l.dir); err != nil {
				l.mu.failed = fmt.Errorf("%w: %v", ErrLogFailed, err)
				return false, err
			}
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		l.mu.failed = fmt.Errorf("%w: %v", ErrLogFailed, err)
		return false, err
	}
	cleaned.synced.Store(true)
	next := slices.Clone(segs)
	next[i] = cleaned
	l.segs.Store(&next)
	old.unref() // the log's reference; readers finish on the old file
	return true, nil
}
