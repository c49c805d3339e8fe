package stream

import (
	"errors"
	"fmt"
	"time"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// SessionWindows groups each key's records into sessions: runs of records
// separated by less than the inactivity gap. A session's window is
// [first record, last record], both inclusive. It is a value; Grace
// returns a copy, and invalid arguments are reported by Builder.Build.
type SessionWindows struct {
	gapMs   int64
	graceMs int64
	err     error
}

// Sessions makes session windows with the given inactivity gap: a record
// within gap of a key's session (gap before its start, or after its end)
// joins it, and a record that bridges two sessions merges them.
func Sessions(inactivityGap time.Duration) SessionWindows {
	var s SessionWindows
	s.gapMs, s.err = positiveMs("Sessions inactivity gap", inactivityGap)
	return s
}

// Grace sets how long out-of-order records are still accepted (default 0).
// A session can grow until the stream time passes its end + gap, so it
// closes when the stream time passes end + gap + grace (Kafka Streams'
// rule). A record is late, dropped and counted in "dropped-records-late",
// if the session it would make, or one it would join, has closed.
func (s SessionWindows) Grace(d time.Duration) SessionWindows {
	if d < 0 {
		s.err = errors.Join(s.err, fmt.Errorf("negative grace %v", d))
	}
	s.graceMs = d.Milliseconds()
	return s
}

// retentionMs keeps sessions, by end, until a record within gap of them
// would be late anyway: so a late record finds the closed session it
// belongs to, and is dropped whatever the expiry schedule.
func (s SessionWindows) retentionMs() int64 { return 2*s.gapMs + s.graceMs }

// SessionGrouped is a grouped stream cut into session windows, ready to
// aggregate per key and session.
type SessionGrouped[K, V any] struct {
	g     Grouped[K, V]
	s     SessionWindows
	final bool
}

// SessionWindowedBy cuts the grouped stream into session windows.
func (g Grouped[K, V]) SessionWindowedBy(s SessionWindows) SessionGrouped[K, V] {
	return SessionGrouped[K, V]{g: g, s: s}
}

// EmitFinal makes the aggregation forward each session once, when it
// closes, instead of on every update (see WindowedGrouped.EmitFinal).
// Sessions merged away before closing are never forwarded.
func (s SessionGrouped[K, V]) EmitFinal() SessionGrouped[K, V] {
	s.final = true
	return s
}

// Count counts the records per key and session.
func (s SessionGrouped[K, V]) Count(opts ...Option) Table[Windowed[K], int64] {
	return sessionAggregate(s, options(opts), "KSTREAM-AGGREGATE", serde.Int64,
		func(_ K, _ V, n int64, _ bool) int64 { return n + 1 },
		func(_ K, a int64, _ bool, b int64) int64 { return a + b })
}

// Reduce combines the values per key and session: the first value as it
// is, then f(aggregate, value); merged sessions combine as f(earlier,
// later).
func (s SessionGrouped[K, V]) Reduce(f func(agg, v V) V, opts ...Option) Table[Windowed[K], V] {
	c := options(opts)
	return sessionAggregate(s, c, "KSTREAM-REDUCE", serdeOr(s.g.s.b, "Reduce", c.valueSerde, s.g.s.vs), reduceStep[K](f),
		func(_ K, agg V, found bool, next V) V {
			if !found {
				return next
			}
			return f(agg, next)
		})
}

// AggregateSessions folds the values per key and session into an
// aggregate: init gives a session's first aggregate, add folds a record
// into it, and merge combines the aggregates of two sessions a record
// bridges (Kafka Streams' aggregate(initializer, aggregator, merger)).
// A merge starts from init() and merges the sessions oldest first.
func AggregateSessions[K, V, VA any](s SessionGrouped[K, V], init func() VA, add func(K, V, VA) VA, merge func(k K, a, b VA) VA, opts ...Option) Table[Windowed[K], VA] {
	c := options(opts)
	return sessionAggregate(s, c, "KSTREAM-AGGREGATE", serdeOr(s.g.s.b, "AggregateSessions", c.valueSerde, serde.Default[VA]()), aggregateStep(init, add),
		func(k K, agg VA, found bool, next VA) VA {
			if !found {
				agg = init()
			}
			return merge(k, agg, next)
		})
}

// sessionAggregate adds a session aggregation: its session store and the
// processor that keeps it. merge folds a session's aggregate into the
// running one (found is false for the first).
func sessionAggregate[K, V, VA any](sg SessionGrouped[K, V], c opConfig, prefix string, vas serde.Serde[VA],
	step func(K, V, VA, bool) VA, merge func(K, VA, bool, VA) VA) Table[Windowed[K], VA] {
	b := sg.g.s.b
	if sg.s.err != nil {
		b.g.Errorf("SessionWindowedBy: %v", sg.s.err)
	}
	store := c.nameOr(b, prefix+"-STATE-STORE")
	s := sg.g.s.keyed(c, store)
	spec, final := sg.s, sg.final
	b.g.AddStore(&engine.StoreDef{
		Name: store, Kind: engine.StoreSession, Logged: !c.unlogged,
		Retention: time.Duration(spec.retentionMs()) * time.Millisecond,
	})
	n := s.add(prefix, opConfig{}, func() engine.Proc {
		return &sessionAgg[K, V, VA]{
			windowClock: newWindowClock(spec.graceMs, spec.retentionMs(), final),
			gapMs:       spec.gapMs, store: store, ks: s.ks, vs: vas, step: step, merge: merge,
		}
	}, store)
	return Table[Windowed[K], VA]{b: b, n: n, store: store, ks: SessionWindowedSerde(s.ks), vs: vas}
}

// sessionAgg is the processor of a session aggregation, on a
// state.SessionStore whose values are the encoded aggregates. Records it
// forwards are stamped with the session's end, as in Kafka Streams.
type sessionAgg[K, V, VA any] struct {
	windowClock
	gapMs int64
	store string
	ks    serde.Serde[K]
	vs    serde.Serde[VA]
	step  func(K, V, VA, bool) VA
	merge func(K, VA, bool, VA) VA
	ss    *state.SessionStore
	local *state.SessionStore // ss without its changelog
	// unlogged are sessions merged away since the last commit: deleted
	// locally, not yet in the changelog (see session_merged.go).
	unlogged []sessionRef
	// tombstones are merged-away sessions found in a restored store,
	// whose tombstones go out again with the first record (on update).
	tombstones []sessionRef
}

func (a *sessionAgg[K, V, VA]) Init(c *engine.ProcCtx) error {
	kv, err := c.Store(a.store)
	if err != nil {
		return err
	}
	a.ss, a.local = &state.SessionStore{KV: kv}, &state.SessionStore{KV: state.Local(kv)}
	c.OnCommit(a.logMerged) // before resume's: the deletes precede the progress
	// The largest session end is the largest record time in the store.
	latest := int64(engine.NoStreamTime)
	err = a.ss.All(func(_ []byte, _, end int64, _ []byte) bool {
		latest = max(latest, end)
		return true
	})
	if err == nil {
		err = a.resume(c, a.ss, latest)
	}
	if err == nil {
		err = a.dropMergedAway()
	}
	if err != nil {
		return fmt.Errorf("stream: %s: resume from store %s: %w", c.Node.Name, a.store, err)
	}
	if !a.final {
		return nil
	}
	return a.ss.All(func(key []byte, start, end int64, _ []byte) bool {
		a.opened(end+a.gapMs, key, start, end)
		return true
	})
}

func (a *sessionAgg[K, V, VA]) Close() error { return nil }

// session is a stored session and its aggregate.
type session[VA any] struct {
	start, end int64
	agg        VA
}

func (a *sessionAgg[K, V, VA]) Process(c *engine.ProcCtx, r engine.Rec) error {
	if err := a.sendTombstones(c); err != nil {
		return fmt.Errorf("stream: %s: %w", c.Node.Name, err)
	}
	if c.DropNulls(r) {
		return nil
	}
	k := engine.As[K](r.Key)
	kb, err := a.ks.Encode(k)
	if err != nil {
		return fmt.Errorf("stream: %s: encode key: %w", c.Node.Name, err)
	}
	closeTime := a.observe(r.TS)
	found, err := a.find(kb, r.TS)
	if err != nil {
		return err
	}
	start, end, late := r.TS, r.TS, r.TS+a.gapMs < closeTime
	for _, s := range found {
		start, end = min(start, s.start), max(end, s.end)
		late = late || s.end+a.gapMs < closeTime
	}
	if late {
		c.Drop("late", r)
	} else if err := a.add(c, r, kb, k, found, start, end); err != nil {
		return err
	}
	return a.advance(func(w openWindow) error { return a.emitFinal(c, w) }, a.ss.Expire)
}

// find returns the key's sessions within gap of ts, oldest first.
func (a *sessionAgg[K, V, VA]) find(kb []byte, ts int64) ([]session[VA], error) {
	var out []session[VA]
	var derr error
	err := a.ss.Find(kb, ts-a.gapMs, ts+a.gapMs, func(start, end int64, b []byte) bool {
		s := session[VA]{start: start, end: end}
		if s.agg, derr = a.vs.Decode(b); derr != nil {
			derr = fmt.Errorf("stream: decode session aggregate: %w", derr)
			return false
		}
		out = append(out, s)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, derr
}

// add merges the found sessions and the record into the session [start,
// end]. On update it forwards a tombstone for each session merged away,
// then the new session. (Kafka Streams also sends a tombstone for a
// session whose bounds do not change; the new value replaces it anyway.)
//
// The merged session is stored before the sessions merged into it are
// deleted: a changelog that ends between the two (an instance that died)
// restores both, and counts some records twice, rather than neither. The
// deletes reach the changelog at the next commit (deleteMerged).
func (a *sessionAgg[K, V, VA]) add(c *engine.ProcCtx, r engine.Rec, kb []byte, k K, found []session[VA], start, end int64) error {
	var agg VA
	have, existed := false, false
	for _, s := range found {
		agg, have = a.merge(k, agg, have, s.agg), true
		existed = existed || (s.start == start && s.end == end)
	}
	agg = a.step(k, engine.As[V](r.Value), agg, have)
	b, err := a.vs.Encode(agg)
	if err != nil {
		return fmt.Errorf("stream: encode session aggregate: %w", err)
	}
	if err := a.ss.Put(kb, start, end, b); err != nil {
		return err
	}
	if !existed {
		a.opened(end+a.gapMs, kb, start, end)
	}
	for _, s := range found {
		if s.start == start && s.end == end {
			continue
		}
		if err := a.deleteMerged(sessionRef{key: kb, start: s.start, end: s.end}); err != nil {
			return err
		}
		if !a.final {
			gone := engine.Rec{Key: Windowed[K]{Key: k, Window: sessionWindow(s.start, s.end)}, Tombstone: true, TS: s.end, Headers: r.Headers}
			if err := c.Forward(gone); err != nil {
				return err
			}
		}
	}
	if a.final {
		return nil
	}
	return c.Forward(engine.Rec{Key: Windowed[K]{Key: k, Window: sessionWindow(start, end)}, Value: agg, TS: end, Headers: r.Headers})
}

// emitFinal forwards a closed session, unless it was merged away.
func (a *sessionAgg[K, V, VA]) emitFinal(c *engine.ProcCtx, w openWindow) error {
	b, found, err := a.ss.Get(w.key, w.start, w.end)
	if err != nil || !found {
		return err
	}
	agg, err := a.vs.Decode(b)
	if err != nil {
		return fmt.Errorf("stream: decode session aggregate: %w", err)
	}
	k, err := a.ks.Decode(w.key)
	if err != nil {
		return fmt.Errorf("stream: %s: decode stored key: %w", c.Node.Name, err)
	}
	return c.Forward(engine.Rec{Key: Windowed[K]{Key: k, Window: sessionWindow(w.start, w.end)}, Value: agg, TS: w.end})
}

func sessionWindow(start, end int64) Window {
	return Window{Start: msTime(start), End: msTime(end)}
}
