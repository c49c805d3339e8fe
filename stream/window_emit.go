package stream

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"fmt"

	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// windowClock is what every windowed aggregation processor shares: its
// own stream time (the largest timestamp it has seen, as Kafka Streams'
// observedStreamTime), the close time that makes records late, the
// windows waiting to be emitted final, and when to expire old windows.
//
// A window is closed once the close time (stream time - grace) is past
// its last millisecond; it then takes no more records, and emit-final
// forwards it. Owned by one processor instance (one task goroutine).
//
// The clock survives a task's move through its store: each emission or
// expiry pass that changed anything saves its progress under the store's
// meta key (logged like the windows, not per record), and resume reads
// it back after a restore, so that records processed again after a move
// (those since the last commit) are late for the windows that had
// closed, and emit-final does not forward again the windows it had
// emitted by the last commit. The saved emission progress is the one at
// the last commit (taken in the task's OnCommit callback, saved then if
// it moved): a final result emitted since may not have reached its
// topic though the meta record did (they go to different partitions),
// and is emitted again after a move.
type windowClock struct {
	graceMs     int64
	retentionMs int64
	observed    int64
	// emitted is the close time of the last emission pass: every window
	// whose last millisecond is before it has been forwarded (emit-final).
	emitted int64
	// committed is emitted at the last commit: those windows' final
	// results are acknowledged. Only it is saved.
	committed  int64
	saved      progress // what the meta key holds
	nextExpiry int64
	final      bool
	open       openWindows // emit-final: windows not yet emitted
	meta       metaStore   // where progress is saved; nil before resume
}

// metaStore is a store with a meta key: state.WindowStore and
// state.SessionStore.
type metaStore interface {
	Meta() ([]byte, bool, error)
	PutMeta([]byte) error
}

func newWindowClock(graceMs, retentionMs int64, final bool) windowClock {
	return windowClock{graceMs: graceMs, retentionMs: retentionMs, observed: engine.NoStreamTime,
		emitted: engine.NoStreamTime, committed: engine.NoStreamTime, nextExpiry: engine.NoStreamTime, final: final,
		saved: progress{observed: engine.NoStreamTime, emitted: engine.NoStreamTime}}
}

// resume sets the clock from a store restored from its changelog, before
// any record: from the progress saved in it and from latest, the largest
// record time its windows hold (the store can be ahead of the last save:
// the records processed since are in it), and registers the commit
// callback with c. The windows the previous instance had expired locally
// (its changelog keeps them longer) are expired by the first advance,
// after it emitted those of them that closed after the last commit: a
// window is never expired before its final result is acknowledged. Call
// it before rebuilding the open windows (opened), which skips those
// emitted by the last commit.
func (w *windowClock) resume(c *engine.ProcCtx, meta metaStore, latest int64) error {
	w.meta = meta
	c.OnCommit(w.commit)
	p, ok, err := loadProgress(meta)
	if err != nil {
		return err
	}
	if ok {
		w.saved = p
		w.observed, w.emitted = max(w.observed, p.observed), max(w.emitted, p.emitted)
		w.committed = w.emitted
	}
	w.observed = max(w.observed, latest)
	w.nextExpiry = w.observed
	return nil
}

// commit is the task's OnCommit callback: every window emitted so far is
// acknowledged, so the emission progress moves to emitted, and is saved
// if it moved (emit-final only: on update, emitted claims nothing). The
// meta record written here is acknowledged by the next commit; until
// then a move restores the previous one, which claims less.
func (w *windowClock) commit() error {
	w.committed = w.emitted
	if !w.final || w.committed == w.saved.emitted {
		return nil
	}
	return w.save()
}

// save writes the stream time and the committed emission progress under
// the meta key.
func (w *windowClock) save() error {
	p := progress{observed: w.observed, emitted: w.committed}
	if err := w.meta.PutMeta(p.encode()); err != nil {
		return err
	}
	w.saved = p
	return nil
}

// observe advances the stream time to ts and returns the close time.
func (w *windowClock) observe(ts int64) int64 {
	w.observed = max(w.observed, ts)
	return w.observed - w.graceMs
}

// opened notes a window for emit-final, unless it was emitted already.
func (w *windowClock) opened(last int64, key []byte, start, end int64) {
	if w.final && last >= w.emitted {
		heap.Push(&w.open, openWindow{last: last, key: bytes.Clone(key), start: start, end: end})
	}
}

// advance emits the windows that have closed (oldest first, by emit),
// then expires the store (by expire, at most every half retention of
// stream time, so the whole-store scan is not paid per record), and
// saves the progress if either did anything. Emitting first means no
// window is expired before it was emitted: retention keeps every window
// at least until it closes.
func (w *windowClock) advance(emit func(openWindow) error, expire func(before int64) (int, error)) error {
	closeTime := w.observed - w.graceMs
	changed := false
	for len(w.open) > 0 && w.open[0].last < closeTime {
		if err := emit(heap.Pop(&w.open).(openWindow)); err != nil {
			return err
		}
		changed = true
	}
	w.emitted = max(w.emitted, closeTime)
	if w.observed >= w.nextExpiry {
		w.nextExpiry = w.observed + max(w.retentionMs/2, 1)
		n, err := expire(w.observed - w.retentionMs)
		if err != nil {
			return err
		}
		changed = changed || n > 0
	}
	if !changed || w.meta == nil {
		return nil
	}
	return w.save()
}

// progress is what a windowed processor (aggregation or stream-stream
// join) keeps under its store's meta key: its stream time and, for
// emit-final, the close time of its last emission pass acknowledged at a
// commit. Encoded as a
// version byte then both times as 8 bytes big-endian.
type progress struct {
	observed, emitted int64
}

const progressVersion = 1

func (p progress) encode() []byte {
	b := append(make([]byte, 0, 17), progressVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(p.observed))
	return binary.BigEndian.AppendUint64(b, uint64(p.emitted))
}

// loadProgress reads the progress saved in a store; ok is false if none
// was.
func loadProgress(m metaStore) (p progress, ok bool, err error) {
	b, ok, err := m.Meta()
	if err != nil || !ok {
		return p, false, err
	}
	if len(b) != 17 || b[0] != progressVersion {
		return p, false, fmt.Errorf("stream: bad progress record %x in a window store", b)
	}
	p.observed = int64(binary.BigEndian.Uint64(b[1:]))
	p.emitted = int64(binary.BigEndian.Uint64(b[9:]))
	return p, true, nil
}

// openWindow is a window that emit-final has not forwarded yet.
type openWindow struct {
	last       int64 // the window's last millisecond
	key        []byte
	start, end int64
}

// openWindows is a min-heap by last (then key and start, so windows that
// close together are emitted in a stable order). Entries of windows that
// no longer exist (merged sessions) are skipped when popped.
type openWindows []openWindow

func (h openWindows) Len() int { return len(h) }
func (h openWindows) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.last != b.last {
		return a.last < b.last
	}
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c < 0
	}
	return a.start < b.start
}
func (h openWindows) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *openWindows) Push(x any)   { *h = append(*h, x.(openWindow)) }
func (h *openWindows) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// timedValue is a time window's stored value: the largest timestamp of
// the window's records (8 bytes big-endian) then the aggregate, as Kafka
// Streams' timestamped window store keeps them.
type timedValue[VA any] struct{ vs serde.Serde[VA] }

func (t timedValue[VA]) encode(ts int64, agg VA) ([]byte, error) {
	b, err := t.vs.Encode(agg)
	if err != nil {
		return nil, fmt.Errorf("stream: encode window aggregate: %w", err)
	}
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(b)), uint64(ts)), b...), nil
}

// timedTS returns the timestamp of a stored timedValue.
func timedTS(b []byte) (int64, error) {
	if len(b) < 8 {
		return 0, fmt.Errorf("stream: window store value of %d bytes has no timestamp", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func (t timedValue[VA]) decode(b []byte) (int64, VA, error) {
	var agg VA
	if len(b) < 8 {
		return 0, agg, fmt.Errorf("stream: window store value of %d bytes has no timestamp", len(b))
	}
	agg, err := t.vs.Decode(b[8:])
	if err != nil {
		return 0, agg, fmt.Errorf("stream: decode window aggregate: %w", err)
	}
	return int64(binary.BigEndian.Uint64(b)), agg, nil
}
