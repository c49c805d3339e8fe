package log

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/runnel-io/runnel/log/vfs"
)

// maxRecoverBatchBytes bounds the batch size the recovery scan believes: a
// larger length field is corruption, not a batch.
const maxRecoverBatchBytes = 256 << 20

// Open opens the log in dir, creating it if needed. After a crash (no
// clean-shutdown marker) it recovers: every segment that may hold records
// above the recovery point is scanned, each batch's CRC verified, indexes
// rebuilt, and a torn or corrupt tail truncated to the last valid batch;
// what was cut is logged at warn level. Leftovers of an interrupted
// compaction are completed or discarded.
func Open(dir string, opts ...Option) (*Log, error) {
	o := options{cfg: DefaultConfig(), fs: vfs.Default, logger: slog.Default(), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, fs: o.fs, logger: o.logger, now: o.now}
	l.cfg.Store(&o.cfg)
	if err := o.fs.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("log: create %s: %w", dir, err)
	}
	bases, err := l.tidyDir()
	if err != nil {
		return nil, err
	}
	markerPath := filepath.Join(dir, cleanShutdownFile)
	clean, err := o.fs.Exists(markerPath)
	if err != nil {
		return nil, err
	}
	rp, _, err := readOffsetFile(o.fs, filepath.Join(dir, recoveryPointFile))
	if err != nil {
		return nil, err
	}
	segs, err := l.loadSegments(bases, clean, rp)
	if err != nil {
		return nil, err
	}
	start, _, err := readOffsetFile(o.fs, filepath.Join(dir, logStartFile))
	if err != nil {
		closeAll(segs)
		return nil, err
	}
	if len(segs) == 0 {
		s, err := createSegment(o.fs, dir, start)
		if err != nil {
			return nil, err
		}
		segs = []*segment{s}
	}
	last := segs[len(segs)-1]
	end := last.w.next
	if last.size.Load() > 0 {
		// segment.ms counts from the reopening: the first append's time
		// before the restart is not kept.
		last.w.created = o.now()
	}
	l.segs.Store(&segs)
	l.tail.Store(&tailState{seg: last, size: last.size.Load(), next: end})
	l.startOffset.Store(min(max(start, segs[0].base), end))
	l.hw.Store(l.startOffset.Load())
	l.recoveryPoint.Store(min(rp, end))
	if clean {
		l.recoveryPoint.Store(end)
	}
	l.mu.lastFlush = o.now()
	if err := l.openEpochs(end); err != nil {
		closeAll(segs)
		return nil, err
	}
	// From here on a crash must trigger recovery again.
	if clean {
		if err := o.fs.Remove(markerPath); err != nil {
			closeAll(segs)
			return nil, fmt.Errorf("log: remove clean-shutdown marker: %w", err)
		}
		if err := o.fs.SyncDir(dir); err != nil {
			closeAll(segs)
			return nil, fmt.Errorf("log: sync %s: %w", dir, err)
		}
	}
	return l, nil
}

func (l *Log) openEpochs(end int64) error {
	c, err := openEpochCache(l.fs, l.dir)
	if err != nil {
		return err
	}
	l.epochs = c
	return c.truncateFromEnd(end)
}

func closeAll(segs []*segment) {
	for _, s := range segs {
		s.closeFiles()
	}
}

// tidyDir finishes or discards an interrupted compaction and returns the
// base offsets of the segments present, in order.
func (l *Log) tidyDir() ([]int64, error) {
	names, err := l.fs.List(l.dir)
	if err != nil {
		return nil, fmt.Errorf("log: list %s: %w", l.dir, err)
	}
	var bases []int64
	swapped := map[int64]bool{}
	for _, name := range names {
		path := filepath.Join(l.dir, name)
		switch {
		case strings.HasSuffix(name, cleanedSuffix), strings.HasSuffix(name, ".tmp"):
			// An unfinished compaction or checkpoint: the original stands.
			if err := l.fs.Remove(path); err != nil {
				return nil, err
			}
		case strings.HasSuffix(name, logSuffix+swapSuffix):
			// A finished compaction that was not yet swapped in.
			base, ok := parseSegmentName(strings.TrimSuffix(name, swapSuffix))
			if !ok {
				continue
			}
			if err := l.fs.Rename(path, strings.TrimSuffix(path, swapSuffix)); err != nil {
				return nil, fmt.Errorf("log: complete compaction of %s: %w", name, err)
			}
			swapped[base] = true
			l.logger.Info("log: completed an interrupted compaction", "dir", l.dir, "segment", base)
		case strings.HasSuffix(name, logSuffix):
			if base, ok := parseSegmentName(name); ok {
				bases = append(bases, base)
			}
		}
	}
	for base := range swapped {
		// The swapped-in segment's indexes are rebuilt by a scan.
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			if err := l.fs.Remove(filepath.Join(l.dir, segmentName(base)+suffix)); err != nil {
				return nil, err
			}
		}
		if !containsBase(bases, base) {
			bases = insertBase(bases, base)
		}
	}
	return bases, nil
}

func containsBase(bases []int64, b int64) bool {
	for _, x := range bases {
		if x == b {
			return true
		}
	}
	return false
}

func insertBase(bases []int64, b int64) []int64 {
	i := 0
	for i < len(bases) && bases[i] < b {
		i++
	}
	return append(bases[:i], append([]int64{b}, bases[i:]...)...)
}

// parseSegmentName parses "<20 digits>.log".
func parseSegmentName(name string) (int64, bool) {
	stem := strings.TrimSuffix(name, logSuffix)
	if len(stem) != 20 || stem == name {
		return 0, false
	}
	base, err := strconv.ParseInt(stem, 10, 64)
	if err != nil || base < 0 {
		return 0, false
	}
	return base, true
}

// loadSegments opens every segment. Segments that may hold records at or
// above the recovery point are scanned unless the log was shut down
// cleanly; a corrupt batch truncates its segment there and removes every
// later segment (they cannot continue a broken log).
func (l *Log) loadSegments(bases []int64, clean bool, rp int64) ([]*segment, error) {
	segs := make([]*segment, 0, len(bases))
	cfg := l.cfg.Load()
	for i, base := range bases {
		s, err := openSegmentFile(l.fs, l.dir, base)
		if err != nil {
			closeAll(segs)
			return nil, err
		}
		last := i == len(bases)-1
		if n := len(segs); n > 0 && segs[n-1].w.next > base {
			s.closeFiles()
			closeAll(segs)
			return nil, fmt.Errorf("%w: segment %d overlaps the previous one ending at %d", ErrCorruptBatch, base, segs[n-1].w.next)
		}
		nextBase := int64(1<<63 - 1)
		if !last {
			nextBase = bases[i+1]
		}
		scan := !clean && nextBase > rp
		if !scan {
			if err := s.loadIndexes(last, cfg.IndexIntervalBytes); err != nil {
				l.logger.Warn("log: rebuilding index", "dir", l.dir, "segment", base, "err", err)
				scan = true
			}
		}
		if scan {
			cut, err := l.recoverSegment(s, 0, cfg.IndexIntervalBytes)
			if err != nil {
				s.closeFiles()
				closeAll(segs)
				return nil, err
			}
			if cut && !last {
				if err := l.dropSegmentsAfter(bases[i+1:]); err != nil {
					s.closeFiles()
					closeAll(segs)
					return nil, err
				}
				last = true
			}
			if !last {
				if err := s.seal(); err != nil {
					s.closeFiles()
					closeAll(segs)
					return nil, err
				}
			}
		}
		segs = append(segs, s)
		if last {
			break
		}
	}
	return segs, nil
}

func (l *Log) dropSegmentsAfter(bases []int64) error {
	for _, b := range bases {
		l.logger.Warn("log: removing segment after a corrupt one", "dir", l.dir, "segment", b)
		s := newSegmentStruct(l.fs, l.dir, b)
		if err := s.removeFiles(); err != nil {
			return err
		}
	}
	return nil
}

// loadIndexes trusts the segment's index files (a clean shutdown, or a
// segment below the recovery point) after a sanity check. The last segment
// becomes active again: its indexes move to memory and the batches after
// its last index entry are re-scanned to learn its end.
func (s *segment) loadIndexes(active bool, intervalBytes int) error {
	if err := s.offIdx.openFile(s.fs, s.path(indexSuffix)); err != nil {
		return err
	}
	if err := s.timeIdx.openFile(s.fs, s.path(timeIndexSuffix)); err != nil {
		s.offIdx.close()
		return err
	}
	size := s.size.Load()
	var from int64
	if e, ok, err := s.offIdx.last(); err != nil {
		return err
	} else if ok {
		from = offsetEntryPos(e)
		if err := s.checkEntry(from, s.base+offsetEntryRel(e)); err != nil {
			return s.indexReset(err)
		}
	}
	if e, ok, err := s.timeIdx.last(); err != nil {
		return err
	} else if ok {
		s.w.maxTs, s.w.maxTsBase, s.w.lastTimeIdxTs = timeEntryTs(e), s.base+timeEntryRel(e), timeEntryTs(e)
		s.maxTs.Store(s.w.maxTs)
	}
	if !active {
		s.sealed.Store(true)
		s.synced.Store(true)
		// The end of a sealed segment is only needed for the last one.
		return nil
	}
	if err := s.offIdx.loadToMem(); err != nil {
		return err
	}
	if err := s.timeIdx.loadToMem(); err != nil {
		return err
	}
	// Walk the tail from the last index entry; it was written before the
	// clean shutdown, so a bad batch here means the index is wrong.
	if err := s.checkActiveIndex(size); err != nil {
		return s.indexReset(err)
	}
	s.offIdx.truncateWhere(func(e []byte) bool { return offsetEntryPos(e) >= from })
	if from > 0 {
		h, err := s.readHeaderAt(from, size)
		if err != nil {
			return s.indexReset(err)
		}
		s.w.next = h.BaseOffset
	}
	s.w.bytesSinceIndex = intervalBytes // the batch at from gets its entry back
	n, bad, err := s.scanFrom(from, intervalBytes)
	if err != nil {
		return err
	}
	if bad != nil || n != size {
		return s.indexReset(fmt.Errorf("%w: tail after %d: %v", ErrCorruptIndex, from, bad))
	}
	return nil
}

// indexReset drops whatever was loaded so that a full scan can rebuild it.
func (s *segment) indexReset(cause error) error {
	s.offIdx.close()
	s.timeIdx.close()
	s.offIdx.reset()
	s.timeIdx.reset()
	s.w.next, s.w.maxTs, s.w.maxTsBase, s.w.lastTimeIdxTs, s.w.bytesSinceIndex = s.base, -1, s.base, -1, 0
	s.maxTs.Store(-1)
	s.sealed.Store(false)
	s.synced.Store(false)
	return cause
}

// recoverSegment rebuilds the segment's indexes by scanning it from pos,
// verifying every batch, and truncates it at the first invalid one. It
// reports whether anything was cut.
func (l *Log) recoverSegment(s *segment, pos int64, intervalBytes int) (bool, error) {
	s.indexReset(nil)
	size := s.size.Load()
	valid, bad, err := s.scanFrom(pos, intervalBytes)
	if err != nil {
		return false, err
	}
	if valid == size {
		return false, nil
	}
	l.logger.Warn("log: truncating corrupt or torn tail",
		"dir", l.dir, "segment", s.base, "valid_bytes", valid, "cut_bytes", size-valid,
		"next_offset", s.w.next, "reason", bad)
	if err := s.file.Truncate(valid); err != nil {
		return false, fmt.Errorf("log: truncate segment %d to %d: %w", s.base, valid, err)
	}
	if err := s.file.Sync(); err != nil {
		return false, fmt.Errorf("log: sync segment %d: %w", s.base, err)
	}
	s.size.Store(valid)
	return true, nil
}

// scanFrom reads the segment sequentially from pos, validating each batch
// and indexing it. It returns the position after the last valid batch and,
// if it stopped early, why (bad). err is an I/O error.
func (s *segment) scanFrom(pos int64, intervalBytes int) (valid int64, bad error, err error) {
	size := s.size.Load()
	buf := make([]byte, 0, 1<<20)
	bufPos := pos // file position of buf[0]
	for pos < size {
		off := int(pos - bufPos)
		if off+BatchHeaderSize > len(buf) {
			if buf, bufPos, err = s.refill(buf, pos, BatchHeaderSize, size); err != nil {
				return pos, nil, err
			}
			off = 0
			if len(buf) < BatchHeaderSize {
				return pos, fmt.Errorf("%w: %d bytes left, less than a header", ErrBatchTooShort, len(buf)), nil
			}
		}
		h, perr := ParseBatchHeader(buf[off:])
		if perr != nil {
			return pos, perr, nil
		}
		n := h.Size()
		if n > maxRecoverBatchBytes || pos+int64(n) > size {
			return pos, fmt.Errorf("%w: batch of %d bytes at %d, segment has %d", ErrBatchTooShort, n, pos, size), nil
		}
		if off+n > len(buf) {
			if buf, bufPos, err = s.refill(buf, pos, n, size); err != nil {
				return pos, nil, err
			}
			off = 0
		}
		if h, perr = ValidateBatch(buf[off : off+n]); perr != nil {
			return pos, perr, nil
		}
		if h.BaseOffset < s.w.next {
			return pos, fmt.Errorf("%w: batch at %d has offset %d, expected >= %d", ErrCorruptBatch, pos, h.BaseOffset, s.w.next), nil
		}
		if _, ok := s.relOffset(h.LastOffset()); !ok {
			return pos, fmt.Errorf("%w: offset %d does not belong in segment %d", ErrCorruptBatch, h.LastOffset(), s.base), nil
		}
		s.indexBatch(pos, &h, intervalBytes)
		pos += int64(n)
	}
	return pos, nil, nil
}

// refill reads at least need bytes at pos into buf (growing it if needed),
// up to the segment's size.
func (s *segment) refill(buf []byte, pos int64, need int, size int64) ([]byte, int64, error) {
	if need > cap(buf) {
		buf = make([]byte, 0, need)
	}
	n := min(int64(cap(buf)), size-pos)
	buf = buf[:n]
	if _, err := s.file.ReadAt(buf, pos); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("log: read segment %d at %d: %w", s.base, pos, err)
	}
	return buf, pos, nil
}

// checkActiveIndex checks every entry of the active segment's in-memory
// indexes: offsets and positions increasing and inside the segment.
func (s *segment) checkActiveIndex(size int64) error {
	s.offIdx.mu.RLock()
	defer s.offIdx.mu.RUnlock()
	s.timeIdx.mu.RLock()
	defer s.timeIdx.mu.RUnlock()
	prevRel, prevPos := int64(-1), int64(-1)
	for e := s.offIdx.mu.mem; len(e) >= offsetEntrySize; e = e[offsetEntrySize:] {
		rel, pos := offsetEntryRel(e), offsetEntryPos(e)
		if rel <= prevRel || pos <= prevPos || pos >= size {
			return fmt.Errorf("%w: segment %d: offset index entry (%d, %d) out of order", ErrCorruptIndex, s.base, rel, pos)
		}
		prevRel, prevPos = rel, pos
	}
	prevTs := int64(-1 << 63)
	for e := s.timeIdx.mu.mem; len(e) >= timeEntrySize; e = e[timeEntrySize:] {
		if ts := timeEntryTs(e); ts <= prevTs {
			return fmt.Errorf("%w: segment %d: time index entry %d out of order", ErrCorruptIndex, s.base, ts)
		} else {
			prevTs = ts
		}
	}
	return nil
}
