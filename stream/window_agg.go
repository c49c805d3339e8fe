package stream

import (
	"fmt"
	"math"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// windowAgg is the processor of a tumbling, hopping or sliding window
// aggregation. Its store is a state.WindowStore whose values are
// timedValue: the aggregate and the largest record timestamp in it, which
// is the timestamp of the records it forwards on update.
type windowAgg[K, V, VA any] struct {
	windowClock
	spec  TimeWindows
	store string
	ks    serde.Serde[K]
	vs    serde.Serde[VA]
	step  func(K, V, VA, bool) VA
	ws    *state.WindowStore
	tv    timedValue[VA]
}

func (a *windowAgg[K, V, VA]) Init(c *engine.ProcCtx) error {
	kv, err := c.Store(a.store)
	if err != nil {
		return err
	}
	a.ws, a.tv = &state.WindowStore{KV: kv}, timedValue[VA]{a.vs}
	latest, err := a.latest()
	if err == nil {
		err = a.resume(c, a.ws, latest)
	}
	if err != nil {
		return fmt.Errorf("stream: %s: resume from store %s: %w", c.Node.Name, a.store, err)
	}
	if !a.final {
		return nil
	}
	// A restored store's windows not emitted yet: opened skips the others.
	return a.ws.All(math.MinInt64, math.MaxInt64, func(key []byte, start int64, _ []byte) bool {
		a.opened(a.spec.last(start), key, start, a.spec.end(start))
		return true
	})
}

// latest returns the largest record timestamp in the store's windows
// (engine.NoStreamTime if it has none): the stream time when they were
// last written.
func (a *windowAgg[K, V, VA]) latest() (int64, error) {
	most := int64(engine.NoStreamTime)
	var derr error
	err := a.ws.All(math.MinInt64, math.MaxInt64, func(_ []byte, _ int64, b []byte) bool {
		var ts int64
		ts, derr = timedTS(b)
		most = max(most, ts)
		return derr == nil
	})
	if err == nil {
		err = derr
	}
	return most, err
}

func (a *windowAgg[K, V, VA]) Close() error { return nil }

func (a *windowAgg[K, V, VA]) Process(c *engine.ProcCtx, r engine.Rec) error {
	if c.DropNulls(r) {
		return nil
	}
	k, v := engine.As[K](r.Key), engine.As[V](r.Value)
	kb, err := a.ks.Encode(k)
	if err != nil {
		return fmt.Errorf("stream: %s: encode key: %w", c.Node.Name, err)
	}
	in := windowInput[K, V]{r: r, kb: kb, k: k, v: v, closeTime: a.observe(r.TS)}
	var late bool
	if a.spec.kind == sliding {
		late, err = a.slide(c, in)
	} else {
		late, err = a.hop(c, in)
	}
	if err != nil {
		return err
	}
	if late {
		c.Drop("late", r)
	}
	return a.advance(func(w openWindow) error { return a.emitFinal(c, w) }, a.ws.Expire)
}

// windowInput is the record being aggregated, decoded once.
type windowInput[K, V any] struct {
	r         engine.Rec
	kb        []byte
	k         K
	v         V
	closeTime int64
}

// hop adds the record to each tumbling or hopping window that holds it
// and is still open; late reports a window that had closed.
func (a *windowAgg[K, V, VA]) hop(c *engine.ProcCtx, in windowInput[K, V]) (late bool, err error) {
	for _, start := range a.spec.starts(in.r.TS) {
		if a.spec.last(start) < in.closeTime {
			late = true
			continue
		}
		b, found, err := a.ws.Get(in.kb, start)
		if err != nil {
			return late, err
		}
		w := slot[VA]{start: start}
		if found {
			if w.ts, w.agg, err = a.tv.decode(b); err != nil {
				return late, err
			}
		}
		if err := a.update(c, in, w, found, !found); err != nil {
			return late, err
		}
	}
	return late, nil
}

// slot is a stored window: its start, aggregate and largest timestamp.
type slot[VA any] struct {
	start int64
	ts    int64
	agg   VA
}

// update folds the record into window w (into a fresh aggregate if
// !found), stores it and, on update, forwards it. created says w is a new
// window (which a sliding window seeded from another one is, though its
// aggregate is found).
func (a *windowAgg[K, V, VA]) update(c *engine.ProcCtx, in windowInput[K, V], w slot[VA], found, created bool) error {
	agg := a.step(in.k, in.v, w.agg, found)
	ts := in.r.TS
	if found {
		ts = max(ts, w.ts)
	}
	return a.put(c, in, w.start, agg, ts, created)
}

func (a *windowAgg[K, V, VA]) put(c *engine.ProcCtx, in windowInput[K, V], start int64, agg VA, ts int64, created bool) error {
	b, err := a.tv.encode(ts, agg)
	if err != nil {
		return err
	}
	if err := a.ws.Put(in.kb, start, b); err != nil {
		return err
	}
	if created {
		a.opened(a.spec.last(start), in.kb, start, a.spec.end(start))
	}
	if a.final {
		return nil
	}
	return a.forward(c, in, slot[VA]{start: start, ts: ts, agg: agg})
}

// forward sends window w's aggregate downstream (on update).
func (a *windowAgg[K, V, VA]) forward(c *engine.ProcCtx, in windowInput[K, V], w slot[VA]) error {
	return c.Forward(engine.Rec{Key: Windowed[K]{Key: in.k, Window: a.spec.window(w.start)}, Value: w.agg, TS: w.ts, Headers: in.r.Headers})
}

// emitFinal forwards a closed window, stamped with its end as Kafka
// Streams does.
func (a *windowAgg[K, V, VA]) emitFinal(c *engine.ProcCtx, w openWindow) error {
	b, found, err := a.ws.Get(w.key, w.start)
	if err != nil || !found {
		return err
	}
	_, agg, err := a.tv.decode(b)
	if err != nil {
		return err
	}
	k, err := a.ks.Decode(w.key)
	if err != nil {
		return fmt.Errorf("stream: %s: decode stored key: %w", c.Node.Name, err)
	}
	return c.Forward(engine.Rec{Key: Windowed[K]{Key: k, Window: a.spec.window(w.start)}, Value: agg, TS: w.end})
}
