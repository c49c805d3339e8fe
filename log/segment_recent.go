package log

import (
	"fmt"
	"sort"
	"sync"
)

// recentBatches remembers where the last batches appended to the active
// segment lie, so that a read at the log end (a consumer keeping up, whose
// every fetch asks for what was appended since its last) finds them without
// reading batch headers from the file: translate reads every header from
// the last index entry on, up to index.interval.bytes of them.
//
// It holds a contiguous run of the segment's batches, the newest last:
// an append that does not follow the newest (after a truncation) starts a
// new run. The writer adds under Log.mu; readers look up under mu.
type recentBatches struct {
	mu   sync.RWMutex
	ents [recentBatchesMax]recentBatch // a ring: n entries, the newest at head-1
	head int
	n    int
}

// recentBatchesMax bounds the batches remembered per active segment.
const recentBatchesMax = 64

type recentBatch struct {
	pos       int64
	base      int64
	lastDelta int32
	size      int32
}

func (b *recentBatch) last() int64 { return b.base + int64(b.lastDelta) }
func (b *recentBatch) end() int64  { return b.pos + int64(b.size) }

// at returns the i-th oldest entry.
func (r *recentBatches) at(i int) *recentBatch {
	return &r.ents[(r.head-r.n+i+2*recentBatchesMax)%recentBatchesMax]
}

// add records the batch h just written at pos. Writer only.
func (r *recentBatches) add(pos int64, h *BatchHeader) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n > 0 {
		if prev := r.at(r.n - 1); prev.end() != pos || h.BaseOffset <= prev.last() {
			r.n = 0
		}
	}
	r.ents[r.head] = recentBatch{pos: pos, base: h.BaseOffset, lastDelta: h.LastOffsetDelta, size: int32(h.Size())}
	r.head = (r.head + 1) % recentBatchesMax
	r.n = min(r.n+1, recentBatchesMax)
}

// read answers readSegment for the active segment from memory: ok is false
// when off is older than the batches remembered, and the caller reads the
// headers from the file. limit is the readers' view of the segment's size;
// cut reports that batches holding maxOff and beyond are not to be read.
// The result is exactly what readSegment would compute from the file.
func (r *recentBatches) read(off, maxOff, limit int64, cut bool, lim ReadLimit) (sl *Slice, found, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.n == 0 || off < r.at(0).base || r.at(r.n-1).end() < limit {
		return nil, false, false
	}
	// Batches from visible on were appended after the reader's view.
	visible := sort.Search(r.n, func(i int) bool { return r.at(i).end() > limit })
	// first is translate's answer: the first visible batch holding an
	// offset >= o, or visible if none.
	first := func(o int64) int {
		return sort.Search(visible, func(i int) bool { return r.at(i).last() >= o })
	}
	stop := visible // batches from stop on are not to be read
	if cut {
		stop = first(maxOff)
	}
	i := first(off)
	if i >= stop {
		return &Slice{}, false, true
	}
	start := r.at(i)
	j := i // batches [i, j) fit in MaxBytes
	for j < stop && r.at(j).end()-start.pos <= int64(max(lim.MaxBytes, 0)) {
		j++
	}
	if j == i {
		if !lim.MinOne {
			return &Slice{}, true, true
		}
		j = i + 1
	}
	return &Slice{pos: start.pos, n: r.at(j-1).end() - start.pos, FirstOffset: start.base}, true, true
}

// remember records the batch h just written at pos in the active
// segment's recent batches. Writer only.
func (s *segment) remember(pos int64, h *BatchHeader) {
	r := s.recent.Load()
	if r == nil {
		r = new(recentBatches)
		s.recent.Store(r)
	}
	r.add(pos, h)
}

// readRecent is readSegment for the active segment from its recent
// batches; ok is false when they do not hold the answer. In invariant
// builds the answer is checked against the one read from the file.
func (s *segment) readRecent(t *tailState, off, maxOff, limit int64, lim ReadLimit) (sl *Slice, found, ok bool) {
	r := s.recent.Load()
	if r == nil {
		return nil, false, false
	}
	sl, found, ok = r.read(off, maxOff, limit, maxOff < t.next, lim)
	if !ok {
		return nil, false, false
	}
	if sl.n > 0 {
		sl.seg = s
	}
	if invariants {
		want, wantFound, err := readSegmentFile(s, nil, t, off, maxOff, lim)
		if err == nil && (wantFound != found || want.pos != sl.pos || want.n != sl.n || want.FirstOffset != sl.FirstOffset) {
			panic(fmt.Sprintf("log: invariant: segment %d: recent batches read %d (max offset %d, limit %d, %+v) as %d+%d first %d found %v; the file says %d+%d first %d found %v",
				s.base, off, maxOff, limit, lim, sl.pos, sl.n, sl.FirstOffset, found, want.pos, want.n, want.FirstOffset, wantFound))
		}
	}
	return sl, found, true
}
