package log

import (
	"fmt"
	"io"
	"slices"
	"sort"
)

// ReadLimit bounds a Read.
type ReadLimit struct {
	// MaxBytes caps the bytes returned.
	MaxBytes int
	// MaxOffset is exclusive: no batch holding an offset at or above it is
	// returned. Consumers pass the high watermark, replicas the end offset.
	MaxOffset int64
	// MinOne returns the first batch whole even when it is larger than
	// MaxBytes (KIP-74), so that a consumer always makes progress.
	MinOne bool
}

// A Slice is a run of whole batches in one segment file, as returned by
// Read. It holds a reference on the segment, so the bytes stay readable
// even if retention or compaction removes the segment meanwhile; Close
// releases it. A Slice is used by one goroutine.
type Slice struct {
	seg *segment
	pos int64
	n   int64
	// FirstOffset is the base offset of the first batch; it may be below the
	// offset asked for when that offset is inside the batch.
	FirstOffset int64
}

// Len is the number of bytes in the slice.
func (s *Slice) Len() int { return int(s.n) }

// AppendTo appends the slice's bytes to dst.
func (s *Slice) AppendTo(dst []byte) ([]byte, error) {
	if s.n == 0 {
		return dst, nil
	}
	start := len(dst)
	dst = slices.Grow(dst, int(s.n))[:start+int(s.n)]
	if err := s.seg.readAt(dst[start:], s.pos); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// WriteTo writes the slice's bytes to w, with sendfile(2) when w is a TCP
// or Unix socket and the segment is an operating-system file.
func (s *Slice) WriteTo(w io.Writer) (int64, error) {
	if s.n == 0 {
		return 0, nil
	}
	s.readAhead()
	if n, handled, err := sendFile(w, s.seg.file, s.pos, s.n); handled {
		return n, err
	}
	return io.Copy(w, io.NewSectionReader(s.seg.file, s.pos, s.n))
}

// readAheadBytes is how far past a slice the kernel is asked to read
// ahead: a consumer reading through the log asks for those
// bytes next, and finds them in the page cache instead of waiting for the
// disk (the kernel's own read-ahead window is a few hundred KiB).
const readAheadBytes = 4 << 20

// readAhead asks the kernel to load the bytes after the slice, up to
// readAheadBytes, when the slice is large: a consumer catching up, not one
// at the log end.
func (s *Slice) readAhead() {
	if s.n < 256<<10 {
		return
	}
	end := s.pos + s.n
	adviseWillNeed(s.seg.file, end, min(readAheadBytes, s.seg.size.Load()-end))
}

// Close releases the slice's segment. It is safe to call twice.
func (s *Slice) Close() {
	if s.seg != nil {
		s.seg.unref()
		s.seg = nil
	}
}

// Read returns the batches holding offsets from off on, within lim, from
// the segment that holds off. An empty slice means no record at or after
// off is below lim.MaxOffset yet (or the first batch is larger than
// MaxBytes and MinOne is unset). An offset below the log start offset or
// above the log end offset is ErrOffsetOutOfRange. Read never takes the
// writer's lock.
func (l *Log) Read(off int64, lim ReadLimit) (*Slice, error) {
	// A segment may be released between loading the list and taking a
	// reference on it (retention, compaction); reload then. Each retry
	// follows a completed removal, so a handful is plenty.
	for attempt := 0; attempt < 16; attempt++ {
		s, retry, err := l.tryRead(off, lim)
		if !retry {
			return s, err
		}
	}
	return nil, fmt.Errorf("log: read at %d: segments kept changing", off)
}

func (l *Log) tryRead(off int64, lim ReadLimit) (_ *Slice, retry bool, _ error) {
	segs := *l.segs.Load()
	t := l.tail.Load()
	if off < l.startOffset.Load() || off > t.next {
		return nil, false, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, off, l.startOffset.Load(), t.next)
	}
	maxOff := min(lim.MaxOffset, t.next)
	if off >= maxOff {
		return &Slice{}, false, nil
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > off }) - 1
	if i < 0 {
		i = 0
	}
	for ; i < len(segs); i++ {
		s := segs[i]
		if s.base >= maxOff {
			break
		}
		if !s.tryRef() {
			return nil, true, nil
		}
		var next *segment
		if i+1 < len(segs) {
			next = segs[i+1]
		}
		sl, found, err := readSegment(s, next, t, off, maxOff, lim)
		if err != nil {
			s.unref()
			return nil, false, err
		}
		if found {
			if sl.n == 0 {
				s.unref()
				sl.seg = nil
			}
			return sl, false, nil
		}
		s.unref()
	}
	return &Slice{}, false, nil
}

// readSegment reads from one segment, holding a reference on it. found is
// false when the segment has nothing at or after off (a gap left by
// compaction): the caller moves on to the next segment. A read at the end
// of the active segment is answered from its recent batches.
func readSegment(s, next *segment, t *tailState, off, maxOff int64, lim ReadLimit) (*Slice, bool, error) {
	if s == t.seg && next == nil {
		if sl, found, ok := s.readRecent(t, off, maxOff, min(s.size.Load(), t.size), lim); ok {
			return sl, found, nil
		}
	}
	return readSegmentFile(s, next, t, off, maxOff, lim)
}

// readSegmentFile is readSegment from the segment's index and the batch
// headers in its file.
func readSegmentFile(s, next *segment, t *tailState, off, maxOff int64, lim ReadLimit) (*Slice, bool, error) {
	limit := s.size.Load()
	if s == t.seg {
		limit = min(limit, t.size)
	}
	limitPos := limit
	if (next == nil || next.base > maxOff) && !(s == t.seg && maxOff >= t.next) {
		p, _, _, err := s.translate(maxOff, limit)
		if err != nil {
			return nil, false, err
		}
		limitPos = p
	}
	pos, h, found, err := s.translate(off, limitPos)
	if err != nil || !found {
		return &Slice{}, found, err
	}
	end := pos + int64(max(lim.MaxBytes, 0))
	if end >= limitPos {
		end = limitPos
	} else if end, err = s.lastBoundary(pos, end); err != nil {
		return nil, false, err
	}
	if end == pos {
		if !lim.MinOne {
			return &Slice{}, true, nil
		}
		end = pos + int64(h.Size())
	}
	return &Slice{seg: s, pos: pos, n: end - pos, FirstOffset: h.BaseOffset}, true, nil
}

// lastBoundary returns the end of the last whole batch that starts at or
// after pos and ends at or before end, or pos if none fits.
func (s *segment) lastBoundary(pos, end int64) (int64, error) {
	e, ok, err := s.offIdx.floor(end, offsetEntryPos)
	if err != nil {
		return 0, err
	}
	p := pos
	if ok && offsetEntryPos(e) > pos {
		p = offsetEntryPos(e)
	}
	for p < end {
		h, err := s.readHeaderAt(p, s.size.Load())
		if err != nil {
			return 0, err
		}
		if p+int64(h.Size()) > end {
			break
		}
		p += int64(h.Size())
	}
	return p, nil
}

// ReadBatches is Read copied into memory: the whole batches holding offsets
// from off on, up to maxBytes (at least one batch), below maxOffset.
func (l *Log) ReadBatches(off int64, maxBytes int, maxOffset int64) ([]byte, error) {
	s, err := l.Read(off, ReadLimit{MaxBytes: maxBytes, MaxOffset: maxOffset, MinOne: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.AppendTo(nil)
}

// OffsetForTimestamp returns the offset and timestamp of the first record
// whose timestamp is >= ts (ListOffsets by time). found is false when every
// record is older.
func (l *Log) OffsetForTimestamp(ts int64) (off, recordTs int64, found bool, err error) {
	for attempt := 0; attempt < 16; attempt++ {
		segs := *l.segs.Load()
		t := l.tail.Load()
		retry := false
		for _, s := range segs {
			if !s.tryRef() {
				retry = true
				break
			}
			limit := s.size.Load()
			if s == t.seg {
				limit = min(limit, t.size)
			}
			if s.maxTimestamp() < ts {
				s.unref()
				continue
			}
			off, recordTs, found, err = s.findTimestamp(ts, limit)
			s.unref()
			if err != nil || found {
				return max(off, l.StartOffset()), recordTs, found, err
			}
		}
		if !retry {
			return 0, 0, false, nil
		}
	}
	return 0, 0, false, fmt.Errorf("log: offset for timestamp %d: segments kept changing", ts)
}
