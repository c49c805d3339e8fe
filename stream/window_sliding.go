package stream

import (
	"fmt"

	"github.com/runnel-io/runnel/stream/internal/engine"
)

// slide adds the record at t to sliding windows of length d, following
// Kafka Streams' SlidingWindows algorithm: it updates the key's windows
// that hold t, and creates the windows t brings into existence (its left
// window [t-d, t], its right window [t+1, t+1+d] if a later record is in
// it, and the right window of the previous record if t is in it).
//
// New windows are built without the records themselves: the left window
// starts from the aggregate of the latest window ending before t, which
// holds exactly the key's records in [t-d, t) whenever the previous
// record is within d (the right window of the record before t-d, or the
// previous record's left window); the right window copies the aggregate
// of the latest-starting window that holds t, taken before t is added.
// That needs the windows starting in [t-2d, t+1], hence the retention of
// 2d + grace. Windows already closed are neither created nor updated;
// late reports that.
//
// On update, a right window of t that exists already is forwarded again
// as it is: t may be processed again after a task moved, its window made
// the first time (in the restored store) and its output lost. Otherwise
// it exists only if a record of the key at t or t+1+d came before, and
// the update repeats the window's value.
func (a *windowAgg[K, V, VA]) slide(c *engine.ProcCtx, in windowInput[K, V]) (late bool, err error) {
	t, d := in.r.TS, a.spec.sizeMs
	if t+1+d < in.closeTime {
		return true, nil // even its right window has closed
	}
	windows, err := a.fetch(in.kb, t-2*d, t+1)
	if err != nil {
		return false, err
	}
	var (
		leftBase, rightBase *slot[VA]
		rightDone           *slot[VA]
		prev                int64
		hasPrev             bool
		starts              = make(map[int64]bool, len(windows))
	)
	for i := range windows {
		w := &windows[i]
		starts[w.start] = true
		switch end := w.start + d; {
		case end < t:
			leftBase, prev, hasPrev = w, w.ts, true
		case end == t:
			if w.ts < t {
				prev, hasPrev = w.ts, true
			}
			late, err = a.updateOpen(c, in, *w, true, false, late)
		case w.start <= t:
			rightBase = w
			late, err = a.updateOpen(c, in, *w, true, false, late)
		case w.start == t+1:
			rightDone = w
		default:
			err = fmt.Errorf("stream: %s: sliding window at %d found for a record at %d", c.Node.Name, w.start, t)
		}
		if err != nil {
			return late, err
		}
	}
	if hasPrev && !starts[prev+1] && prev+1+d >= t {
		if late, err = a.updateOpen(c, in, slot[VA]{start: prev + 1}, false, true, late); err != nil {
			return late, err
		}
		starts[prev+1] = true
	}
	// When prev = t-d-1, prev's right window just made is t's left window.
	if !starts[t-d] {
		left, found := slot[VA]{start: t - d}, false
		if hasPrev && leftBase != nil && prev >= t-d {
			left.agg, left.ts, found = leftBase.agg, t, true
		}
		if late, err = a.updateOpen(c, in, left, found, true, late); err != nil {
			return late, err
		}
	}
	switch {
	case rightDone != nil && !a.final && a.spec.last(t+1) >= in.closeTime:
		return late, a.forward(c, in, *rightDone)
	case rightDone == nil && rightBase != nil && rightBase.ts > t:
		return late, a.put(c, in, t+1, rightBase.agg, rightBase.ts, true)
	}
	return late, nil
}

// updateOpen updates window w (see update) if it is open; otherwise it
// reports the record late (or-ed into late).
func (a *windowAgg[K, V, VA]) updateOpen(c *engine.ProcCtx, in windowInput[K, V], w slot[VA], found, created, late bool) (bool, error) {
	if a.spec.last(w.start) < in.closeTime {
		return true, nil
	}
	return late, a.update(c, in, w, found, created)
}

// fetch returns the key's windows starting in [from, to], oldest first.
func (a *windowAgg[K, V, VA]) fetch(kb []byte, from, to int64) ([]slot[VA], error) {
	var out []slot[VA]
	var derr error
	err := a.ws.Fetch(kb, from, to, func(start int64, b []byte) bool {
		w := slot[VA]{start: start}
		w.ts, w.agg, derr = a.tv.decode(b)
		out = append(out, w)
		return derr == nil
	})
	if err != nil {
		return nil, err
	}
	return out, derr
}
