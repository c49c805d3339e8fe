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
type windowClock struct {
	graceMs     int64
	retentionMs int64
	observed    int64
	nextExpiry  int64
	final       bool
	open        openWindows // emit-final: windows not yet emitted
}

func newWindowClock(graceMs, retentionMs int64, final bool) windowClock {
	return windowClock{graceMs: graceMs, retentionMs: retentionMs, observed: engine.NoStreamTime, nextExpiry: engine.NoStreamTime, final: final}
}

// observe advances the stream time to ts and returns the close time.
func (w *windowClock) observe(ts int64) int64 {
	w.observed = max(w.observed, ts)
	return w.observed - w.graceMs
}

// opened notes a new window for emit-final.
func (w *windowClock) opened(last int64, key []byte, start, end int64) {
	if w.final {
		heap.Push(&w.open, openWindow{last: last, key: bytes.Clone(key), start: start, end: end})
	}
}

// advance emits the windows that have closed (oldest first, by emit),
// then expires the store (by expire, at most every half retention of
// stream time, so the whole-store scan is not paid per record). Emitting
// first means no window is expired before it was emitted: retention
// keeps every window at least until it closes.
func (w *windowClock) advance(emit func(openWindow) error, expire func(before int64) (int, error)) error {
	closeTime := w.observed - w.graceMs
	for len(w.open) > 0 && w.open[0].last < closeTime {
		if err := emit(heap.Pop(&w.open).(openWindow)); err != nil {
			return err
		}
	}
	if w.observed < w.nextExpiry {
		return nil
	}
	w.nextExpiry = w.observed + max(w.retentionMs/2, 1)
	_, err := expire(w.observed - w.retentionMs)
	return err
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

// dropNulls drops records an aggregation cannot take, as grouped
// aggregations do; it reports whether r was dropped.
func dropNulls(c *engine.ProcCtx, r engine.Rec) bool {
	switch {
	case r.NullKey:
		c.Drop("null-key", r)
		return true
	case r.Tombstone:
		c.Drop("null-value", r)
		return true
	}
	return false
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
