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
// The clock survives a task's move through its store: at each commit (in
// the task's OnCommit callback) it saves its stream time and emission
// progress as of that commit under the store's meta key, if they moved,
// and resume reads them back after a restore. The records processed
// again after a move (those since the last commit) so see the stream
// times they saw before, as in Kafka Streams, which commits the stream
// time with the offsets: a record that was on time is on time again, and
// gives its update again if that was lost; one that was late is late
// again. The store may hold the changes of those records already (they
// are then counted twice: at-least-once), so its latest record time is
// no stream time to resume from. Emit-final does not forward again the
// windows emitted by the last commit; a final result emitted since may
// not have reached its topic though the meta record did (they go to
// different partitions), and is emitted again after a move.
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
	hasSaved   bool     // the meta key holds a progress record
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
// any record, and registers the commit callback with c: to the progress
// saved at the last commit whose meta record the changelog holds, or, if
// it holds none, to latest, the largest record time in the store.
//
// A store without a progress record was restored from a changelog cut
// before the first commit's meta record: a changelog arrives in order,
// so the store holds no change made after that commit (its meta record
// comes first), and its latest record time is the stream time of the
// commit (a record at the stream time is never late). If the meta record
// of a later commit was lost, the previous one's stream time is lower
// than the commit's: records processed again may be accepted that were
// late (counts only grow), and emit-final emits again, with counts at
// least as high, the windows emitted between the two commits.
//
// The windows the previous instance had expired locally
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
		w.saved, w.hasSaved = p, true
		w.observed, w.emitted, w.committed = p.observed, p.emitted, p.emitted
	} else {
		w.observed = latest
	}
	w.nextExpiry = w.observed
	return nil
}

// commit is the task's OnCommit callback: every window emitted so far is
// acknowledged, so the emission progress moves to emitted (emit-final
// only: on update, emitted claims nothing), and the stream time and that
// progress are saved as of this commit, if they moved or none was saved.
// The meta record written here is acknowledged by the next commit; until
// then a move restores the previous one, which is lower (see resume).
func (w *windowClock) commit() error {
	if w.final {
		w.committed = w.emitted
	}
	p := progress{observed: w.observed, emitted: w.committed}
	if w.hasSaved && p == w.saved {
		return nil
	}
	if err := w.meta.PutMeta(p.encode()); err != nil {
		return err
	}
	w.saved, w.hasSaved = p, true
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
// stream time, so the whole-store scan is not paid per record). Emitting
// first means no window is expired before it was emitted: retention
// keeps every window at least until it closes. The progress is saved at
// the next commit.
func (w *windowClock) advance(emit func(openWindow) error, expire func(before int64) (int, error)) error {
	closeTime := w.observed - w.graceMs
	for len(w.open) > 0 && w.open[0].last < closeTime {
		if err := emit(heap.Pop(&w.open).(openWindow)); err != nil {
			return err
		}
	}
	w.emitted = max(w.emitted, closeTime)
	if w.observed < w.nextExpiry {
		return nil
	}
	w.nextExpiry = w.observed + max(w.retentionMs/2, 1)
	_, err := expire(w.observed - w.retentionMs)
	return err
}

// progress is what a windowed processor (aggregation or stream-stream
// join) keeps under its store's meta key as of its last commit: its
// stream time and, for emit-final, the close time of its last emission
// pass (for a join, of unjoined results). Encoded as a version byte then
// both times as 8 bytes big-endian.
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
