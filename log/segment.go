package log

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/runnel-io/runnel/log/vfs"
)

// ErrCorruptIndex reports an index file that cannot be trusted; the segment
// is re-indexed by a scan.
var ErrCorruptIndex = errors.New("log: corrupt index")

// File name suffixes of a segment's files.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	cleanedSuffix   = ".cleaned" // a compacted copy being written
	swapSuffix      = ".swap"    // a compacted copy ready to replace the original
)

// segmentName is the file name prefix of the segment starting at base: its
// base offset in 20 digits, as Kafka names them.
func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// A segment is one file of a partition log holding batches whose offsets
// start at base, and its two sparse indexes.
//
// Readers (any goroutine) call translate, readAt and the lookups with a
// reference held (tryRef/unref); they see only size bytes. The writer
// (holding Log.mu) appends, seals and truncates, and is the only one to
// touch the fields in w.
type segment struct {
	base    int64
	dir     string
	fs      vfs.FS
	file    vfs.File
	offIdx  *index
	timeIdx *index

	size  atomic.Int64 // bytes of whole, written batches; readers see these
	maxTs atomic.Int64 // published copy of w.maxTs, for readers
	refs  atomic.Int32 // 1 for the log's own reference, +1 per reader

	w struct {
		next            int64 // offset after the last batch; base when empty
		maxTs           int64 // largest batch max timestamp, -1 if none
		maxTsBase       int64 // base offset of the first batch with maxTs
		lastTimeIdxTs   int64 // timestamp of the last time index entry
		bytesSinceIndex int
		created         time.Time // first append, for segment.ms
	}
	// recent holds the positions of the last batches appended while the
	// segment is active; nil once sealed (segment_recent.go).
	recent atomic.Pointer[recentBatches]
	sealed atomic.Bool // indexes written to their files; no more appends
	synced atomic.Bool // sealed and synced to disk
}

func (s *segment) path(suffix string) string {
	return filepath.Join(s.dir, segmentName(s.base)+suffix)
}

func newSegmentStruct(fs vfs.FS, dir string, base int64) *segment {
	s := &segment{base: base, dir: dir, fs: fs, offIdx: newIndex(offsetEntrySize), timeIdx: newIndex(timeEntrySize)}
	s.refs.Store(1)
	s.w.next = base
	s.w.maxTs = -1
	s.w.maxTsBase = base
	s.w.lastTimeIdxTs = -1
	s.maxTs.Store(-1)
	return s
}

// createSegment creates an empty active segment at base.
func createSegment(fs vfs.FS, dir string, base int64) (*segment, error) {
	s := newSegmentStruct(fs, dir, base)
	for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
		if err := fs.Remove(s.path(suffix)); err != nil {
			return nil, fmt.Errorf("log: remove stale %s: %w", s.path(suffix), err)
		}
	}
	f, err := fs.Create(s.path(logSuffix))
	if err != nil {
		return nil, fmt.Errorf("log: create segment %d: %w", base, err)
	}
	s.file = f
	return s, nil
}

// openSegmentFile opens an existing segment's log file; its indexes are
// loaded or rebuilt by the caller.
func openSegmentFile(fs vfs.FS, dir string, base int64) (*segment, error) {
	s := newSegmentStruct(fs, dir, base)
	f, err := fs.OpenReadWrite(s.path(logSuffix))
	if err != nil {
		return nil, fmt.Errorf("log: open segment %d: %w", base, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("log: stat segment %d: %w", base, err)
	}
	s.file = f
	s.size.Store(size)
	return s, nil
}

// tryRef takes a reader's reference; it fails once the segment has been
// released by the log and every reader.
func (s *segment) tryRef() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// unref drops a reference; the last one closes the files.
func (s *segment) unref() {
	if s.refs.Add(-1) == 0 {
		s.closeFiles()
	}
}

func (s *segment) closeFiles() error {
	err := s.file.Close()
	if e := s.offIdx.close(); err == nil {
		err = e
	}
	if e := s.timeIdx.close(); err == nil {
		err = e
	}
	return err
}

// removeFiles unlinks the segment's files. Readers holding references keep
// reading the unlinked files until they let go.
func (s *segment) removeFiles() error {
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := s.fs.Remove(s.path(suffix)); err != nil {
			return fmt.Errorf("log: remove %s: %w", s.path(suffix), err)
		}
	}
	return nil
}

// relOffset converts an offset of this segment to the index's 32 bits.
func (s *segment) relOffset(off int64) (uint32, bool) {
	rel := off - s.base
	if rel < 0 || rel > math.MaxUint32 {
		return 0, false
	}
	return uint32(rel), true
}

// fits reports whether a batch of n bytes ending at lastOffset can be
// appended without overflowing the segment's 32-bit positions and offsets.
func (s *segment) fits(n int, lastOffset int64) bool {
	_, ok := s.relOffset(lastOffset)
	return ok && s.size.Load()+int64(n) <= maxSegmentBytes
}

// appendBatch writes one batch, whose offsets are already set, at the end
// of the segment and indexes it. Writer only. On a failed write the file is
// cut back to its previous size; if that fails too, the error says so and
// the caller must stop writing to this log.
func (s *segment) appendBatch(b []byte, h *BatchHeader, intervalBytes int, now time.Time) error {
	pos := s.size.Load()
	if n, err := s.file.WriteAt(b, pos); err != nil {
		if n > 0 {
			if terr := s.file.Truncate(pos); terr != nil {
				return fmt.Errorf("%w: write segment %d: %v; undo: %v", ErrLogFailed, s.base, err, terr)
			}
		}
		return fmt.Errorf("log: write segment %d at %d: %w", s.base, pos, err)
	}
	if invariants {
		s.checkWritten(b, pos)
	}
	s.indexBatch(pos, h, intervalBytes)
	if s.w.created.IsZero() {
		s.w.created = now
	}
	s.size.Store(pos + int64(len(b)))
	return nil
}

// indexBatch records a batch at pos in the writer state and, every
// intervalBytes, in the indexes.
func (s *segment) indexBatch(pos int64, h *BatchHeader, intervalBytes int) {
	if h.MaxTimestamp > s.w.maxTs {
		s.w.maxTs = h.MaxTimestamp
		s.w.maxTsBase = h.BaseOffset
		s.maxTs.Store(h.MaxTimestamp)
	}
	if s.w.bytesSinceIndex >= intervalBytes {
		rel, _ := s.relOffset(h.BaseOffset)
		s.offIdx.appendEntry(offsetEntry(rel, uint32(pos)))
		s.maybeTimeEntry()
		s.w.bytesSinceIndex = 0
	}
	s.w.bytesSinceIndex += h.Size()
	s.w.next = h.NextOffset()
}

// maybeTimeEntry adds a time index entry if the max timestamp grew.
func (s *segment) maybeTimeEntry() {
	if s.w.maxTs > s.w.lastTimeIdxTs {
		rel, _ := s.relOffset(s.w.maxTsBase)
		s.timeIdx.appendEntry(timeEntry(s.w.maxTs, rel))
		s.w.lastTimeIdxTs = s.w.maxTs
	}
}

// seal makes the segment read-only: a last time index entry, then both
// indexes written to their files. Writer only.
func (s *segment) seal() error {
	if s.sealed.Load() {
		return nil
	}
	s.maybeTimeEntry()
	if err := s.offIdx.writeFile(s.fs, s.path(indexSuffix)); err != nil {
		return err
	}
	if err := s.timeIdx.writeFile(s.fs, s.path(timeIndexSuffix)); err != nil {
		return err
	}
	s.recent.Store(nil)
	s.sealed.Store(true)
	return nil
}

// unseal undoes seal, whole or in part (a roll that failed after sealing):
// the indexes move back to memory so that the segment takes appends again,
// and Flush syncs it again. The index files left on disk are rewritten by
// the next seal. Writer only.
func (s *segment) unseal() error {
	if err := s.offIdx.loadToMem(); err != nil {
		return err
	}
	if err := s.timeIdx.loadToMem(); err != nil {
		return err
	}
	s.sealed.Store(false)
	s.synced.Store(false)
	return nil
}

// sync flushes the segment's data (and sealed indexes) to disk.
func (s *segment) sync() error {
	if err := s.file.Sync(); err != nil {
		return fmt.Errorf("log: sync segment %d: %w", s.base, err)
	}
	if err := s.offIdx.sync(); err != nil {
		return fmt.Errorf("log: sync index %d: %w", s.base, err)
	}
	if err := s.timeIdx.sync(); err != nil {
		return fmt.Errorf("log: sync time index %d: %w", s.base, err)
	}
	return nil
}

// readHeaderAt reads the header of the batch at pos, which must lie below
// limit together with the whole batch.
func (s *segment) readHeaderAt(pos, limit int64) (BatchHeader, error) {
	var buf [BatchHeaderSize]byte
	if pos+BatchHeaderSize > limit {
		return BatchHeader{}, fmt.Errorf("%w: segment %d: header at %d past end %d", ErrCorruptBatch, s.base, pos, limit)
	}
	if _, err := s.file.ReadAt(buf[:], pos); err != nil {
		return BatchHeader{}, fmt.Errorf("log: read segment %d at %d: %w", s.base, pos, err)
	}
	h, err := ParseBatchHeader(buf[:])
	if err != nil {
		return h, fmt.Errorf("segment %d at %d: %w", s.base, pos, err)
	}
	if pos+int64(h.Size()) > limit {
		return h, fmt.Errorf("%w: segment %d: batch at %d runs past end %d", ErrCorruptBatch, s.base, pos, limit)
	}
	return h, nil
}

// translate finds the first batch at or after position floorPos whose last
// offset is >= off, looking only below limit. found is false when no such
// batch is there.
func (s *segment) translate(off, limit int64) (pos int64, h BatchHeader, found bool, err error) {
	pos = 0
	wantBase := int64(-1) // the base offset the index says is at pos
	if off > s.base {
		e, ok, err := s.offIdx.floor(off-s.base, offsetEntryRel)
		if err != nil {
			return 0, h, false, err
		}
		if ok {
			pos, wantBase = offsetEntryPos(e), s.base+offsetEntryRel(e)
			if pos >= limit {
				// off's batch starts at or after that entry's batch, which
				// is past limit; make sure the entry is true.
				if err := s.checkEntry(pos, wantBase); err != nil {
					return 0, h, false, err
				}
				return limit, h, false, nil
			}
		}
	}
	for pos < limit {
		h, err = s.readHeaderAt(pos, limit)
		if err != nil {
			return 0, h, false, err
		}
		if wantBase >= 0 {
			if h.BaseOffset != wantBase {
				return 0, h, false, corruptEntry(s.base, wantBase, h.BaseOffset)
			}
			wantBase = -1
		}
		if h.LastOffset() >= off {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return limit, h, false, nil
}

// readAt reads len(p) bytes at pos.
func (s *segment) readAt(p []byte, pos int64) error {
	n, err := s.file.ReadAt(p, pos)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("log: read segment %d at %d: %w", s.base, pos, err)
	}
	return nil
}

// findTimestamp returns the offset and timestamp of the first record with a
// timestamp >= target, scanning from the time index's hint.
func (s *segment) findTimestamp(target int64, limit int64) (off, ts int64, found bool, err error) {
	start := s.base
	e, ok, err := s.timeIdx.floor(target, timeEntryTs)
	if err != nil {
		return 0, 0, false, err
	}
	if ok {
		start = s.base + timeEntryRel(e)
	}
	pos, _, ok, err := s.translate(start, limit)
	if err != nil || !ok {
		return 0, 0, false, err
	}
	for pos < limit {
		h, err := s.readHeaderAt(pos, limit)
		if err != nil {
			return 0, 0, false, err
		}
		if h.MaxTimestamp >= target && !h.Control() {
			off, ts, found, err := s.timestampInBatch(pos, &h, target)
			if err != nil || found {
				return off, ts, found, err
			}
		}
		pos += int64(h.Size())
	}
	return 0, 0, false, nil
}

// timestampInBatch finds the first record of the batch at pos whose
// timestamp is >= target; a LogAppendTime batch's records all carry its
// max timestamp.
func (s *segment) timestampInBatch(pos int64, h *BatchHeader, target int64) (int64, int64, bool, error) {
	if h.LogAppendTime() {
		return h.BaseOffset, h.MaxTimestamp, true, nil
	}
	buf := make([]byte, h.Size())
	if err := s.readAt(buf, pos); err != nil {
		return 0, 0, false, err
	}
	_, recs, err := DecodeRecords(buf)
	if err != nil {
		return 0, 0, false, fmt.Errorf("log: segment %d at %d: %w", s.base, pos, err)
	}
	for _, r := range recs {
		if ts := h.BaseTimestamp + r.TimestampDelta; ts >= target {
			return h.BaseOffset + int64(r.OffsetDelta), ts, true, nil
		}
	}
	// The header's max timestamp is not a record's: compaction removed
	// that record (the rewritten batch keeps the header's), or the client
	// sent it so. The search goes on past this batch.
	return 0, 0, false, nil
}

// maxTimestamp is the largest batch max timestamp in the segment, -1 when
// it has none. Safe for readers.
func (s *segment) maxTimestamp() int64 { return s.maxTs.Load() }

// checkEntry verifies that an index entry points at the batch it names.
func (s *segment) checkEntry(pos, base int64) error {
	h, err := s.readHeaderAt(pos, s.size.Load())
	if err != nil {
		return fmt.Errorf("%w: segment %d: entry for offset %d: %v", ErrCorruptIndex, s.base, base, err)
	}
	if h.BaseOffset != base {
		return corruptEntry(s.base, base, h.BaseOffset)
	}
	return nil
}

func corruptEntry(seg, want, got int64) error {
	return fmt.Errorf("%w: segment %d: entry for offset %d points at a batch at %d", ErrCorruptIndex, seg, want, got)
}

// checkWritten reads a just-written batch back and panics if the file does
// not hold it: the pair check of a write (invariant builds only).
func (s *segment) checkWritten(b []byte, pos int64) {
	got := make([]byte, len(b))
	if err := s.readAt(got, pos); err != nil {
		return // an I/O error is reported by the next read, not corruption
	}
	if _, err := ValidateBatch(got); err != nil || string(got) != string(b) {
		panic(fmt.Sprintf("log: invariant: batch at %d of segment %d reads back different: %v", pos, s.base, err))
	}
}
