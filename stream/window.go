package stream

import (
	"errors"
	"fmt"
	"time"

	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// Window is the time interval of a windowed aggregate. Start is
// inclusive. End is exclusive for tumbling and hopping windows, and
// inclusive for sliding and session windows (as in Kafka Streams).
type Window struct {
	Start, End time.Time
}

// Windowed is a key together with the window its aggregate covers: the
// key type of a windowed table.
type Windowed[K any] struct {
	Key    K
	Window Window
}

// String prints the key and the window as an RFC 3339 interval.
func (w Windowed[K]) String() string {
	return fmt.Sprintf("%v@%s/%s", w.Key, w.Window.Start.Format(time.RFC3339Nano), w.Window.End.Format(time.RFC3339Nano))
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

type windowKind int

const (
	tumbling windowKind = iota
	hopping
	sliding
)

// TimeWindows says how a grouped stream is cut into windows of fixed
// length: Tumbling, Hopping or Sliding. It is a value; Grace returns a
// copy. Invalid arguments are reported by Builder.Build.
//
// Times are event times (record timestamps) in milliseconds. Windows are
// aligned to the Unix epoch; unlike Kafka Streams, a window may start
// before the epoch (a record at 5 s is in every hopping window that
// covers it, and its sliding window starts at 5 s - d).
type TimeWindows struct {
	kind    windowKind
	sizeMs  int64
	advMs   int64
	graceMs int64
	err     error
}

// Tumbling windows are consecutive, non-overlapping windows of one size:
// each record is in exactly one, [start, start+size).
func Tumbling(size time.Duration) TimeWindows {
	w := TimeWindows{kind: tumbling}
	w.sizeMs, w.err = positiveMs("Tumbling size", size)
	w.advMs = w.sizeMs
	return w
}

// Hopping windows have one size and start every advance: with advance <
// size they overlap, and a record is in size/advance of them.
func Hopping(size, advance time.Duration) TimeWindows {
	w := TimeWindows{kind: hopping}
	var err1, err2 error
	w.sizeMs, err1 = positiveMs("Hopping size", size)
	w.advMs, err2 = positiveMs("Hopping advance", advance)
	w.err = errors.Join(err1, err2)
	if w.err == nil && w.advMs > w.sizeMs {
		w.err = fmt.Errorf("Hopping advance %v is larger than the size %v", advance, size)
	}
	return w
}

// Sliding windows are Kafka Streams' SlidingWindows: windows of length
// timeDifference, both ends inclusive, defined by the records
// themselves. A record at t has a left window [t-d, t] and a right window
// [t+1, t+d+1]; a window exists only if it holds a record, and holds
// every record of its key within its bounds. So each distinct set of
// records that fit within d of each other gets exactly one aggregate.
func Sliding(timeDifference time.Duration) TimeWindows {
	w := TimeWindows{kind: sliding}
	w.sizeMs, w.err = positiveMs("Sliding time difference", timeDifference)
	w.advMs = 1
	return w
}

// Grace sets how long after a window's end it still accepts out-of-order
// records (default 0, Kafka Streams' "no grace"). A record that arrives
// when the stream time (the largest timestamp the aggregation has seen)
// is at or past end + grace is dropped for that window, and counted in
// the "dropped-records-late" metric.
func (w TimeWindows) Grace(d time.Duration) TimeWindows {
	if d < 0 {
		w.err = errors.Join(w.err, fmt.Errorf("negative grace %v", d))
	}
	w.graceMs = d.Milliseconds()
	return w
}

func positiveMs(what string, d time.Duration) (int64, error) {
	if d < time.Millisecond {
		return 1, fmt.Errorf("%s %v is less than 1ms", what, d)
	}
	return d.Milliseconds(), nil
}

// starts returns the starts of the tumbling or hopping windows that hold
// a record at ts, oldest first.
func (w TimeWindows) starts(ts int64) []int64 {
	first := floorDiv(ts-w.sizeMs+w.advMs, w.advMs) * w.advMs
	var out []int64
	for s := first; s <= ts; s += w.advMs {
		out = append(out, s)
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// end returns the end of the window starting at start (exclusive for
// tumbling and hopping windows, inclusive for sliding ones).
func (w TimeWindows) end(start int64) int64 { return start + w.sizeMs }

// last returns the last millisecond inside the window starting at start:
// the window is closed once the close time (stream time - grace) is past
// it.
func (w TimeWindows) last(start int64) int64 {
	if w.kind == sliding {
		return start + w.sizeMs
	}
	return start + w.sizeMs - 1
}

// retentionMs is how long windows stay in the store, measured from their
// start back from the stream time: until they close, and for sliding
// windows until no open window can be derived from them.
func (w TimeWindows) retentionMs() int64 {
	if w.kind == sliding {
		return 2*w.sizeMs + w.graceMs
	}
	return w.sizeMs + w.graceMs
}

func (w TimeWindows) window(start int64) Window {
	return Window{Start: msTime(start), End: msTime(w.end(start))}
}

// WindowedGrouped is a grouped stream cut into time windows, ready to
// aggregate per key and window.
type WindowedGrouped[K, V any] struct {
	g     Grouped[K, V]
	w     TimeWindows
	final bool
}

// WindowedBy cuts the grouped stream into tumbling, hopping or sliding
// windows (for session windows see SessionWindowedBy).
func (g Grouped[K, V]) WindowedBy(w TimeWindows) WindowedGrouped[K, V] {
	return WindowedGrouped[K, V]{g: g, w: w}
}

// EmitFinal makes the aggregation forward each window's result once, when
// the window closes (stream time reaches its end + grace), instead of on
// every update: Kafka Streams' emitStrategy(onWindowClose), or
// suppress(untilWindowCloses). The windowed table's store still holds the
// running aggregates.
//
// A task that moves resumes from its restored store, which keeps the
// aggregation's stream time and the close time of its last emission as
// of the last commit: the records processed again after the move (those
// since that commit) see the stream times they saw before, and the
// windows emitted by that commit are not forwarded again. A window
// emitted after the last commit is forwarded
// again, with at least its earlier count (at-least-once): its output may
// have been lost with the instance, though its changes reached the
// changelog.
func (w WindowedGrouped[K, V]) EmitFinal() WindowedGrouped[K, V] {
	w.final = true
	return w
}

// Count counts the records per key and window.
func (w WindowedGrouped[K, V]) Count(opts ...Option) Table[Windowed[K], int64] {
	return windowAggregate(w, options(opts), "KSTREAM-AGGREGATE", serde.Int64,
		func(_ K, _ V, n int64, _ bool) int64 { return n + 1 })
}

// Reduce combines the values per key and window: the first value as it
// is, then f(aggregate, value).
func (w WindowedGrouped[K, V]) Reduce(f func(agg, v V) V, opts ...Option) Table[Windowed[K], V] {
	c := options(opts)
	return windowAggregate(w, c, "KSTREAM-REDUCE", serdeOr(w.g.s.b, "Reduce", c.valueSerde, w.g.s.vs), reduceStep[K](f))
}

// AggregateWindowed folds the values per key and window into an
// aggregate: init gives a window's first aggregate, add folds a record
// into it.
func AggregateWindowed[K, V, VA any](w WindowedGrouped[K, V], init func() VA, add func(K, V, VA) VA, opts ...Option) Table[Windowed[K], VA] {
	c := options(opts)
	return windowAggregate(w, c, "KSTREAM-AGGREGATE", serdeOr(w.g.s.b, "AggregateWindowed", c.valueSerde, serde.Default[VA]()), aggregateStep(init, add))
}

func reduceStep[K, V any](f func(agg, v V) V) func(K, V, V, bool) V {
	return func(_ K, v, agg V, found bool) V {
		if !found {
			return v
		}
		return f(agg, v)
	}
}

func aggregateStep[K, V, VA any](init func() VA, add func(K, V, VA) VA) func(K, V, VA, bool) VA {
	return func(k K, v V, agg VA, found bool) VA {
		if !found {
			agg = init()
		}
		return add(k, v, agg)
	}
}

// windowAggregate adds a windowed aggregation: its window store and the
// processor that keeps it.
func windowAggregate[K, V, VA any](w WindowedGrouped[K, V], c opConfig, prefix string, vas serde.Serde[VA], step func(K, V, VA, bool) VA) Table[Windowed[K], VA] {
	b := w.g.s.b
	if w.w.err != nil {
		b.g.Errorf("WindowedBy: %v", w.w.err)
	}
	store := c.nameOr(b, prefix+"-STATE-STORE")
	s := w.g.s.keyed(c, store)
	spec := w.w
	b.g.AddStore(&engine.StoreDef{
		Name: store, Kind: engine.StoreWindow, Logged: !c.unlogged,
		Retention: time.Duration(spec.retentionMs()) * time.Millisecond,
	})
	final := w.final
	n := s.add(prefix, opConfig{}, func() engine.Proc {
		return &windowAgg[K, V, VA]{
			windowClock: newWindowClock(spec.graceMs, spec.retentionMs(), final),
			spec:        spec, store: store, ks: s.ks, vs: vas, step: step,
		}
	}, store)
	ks := WindowedSerde(s.ks, time.Duration(spec.sizeMs)*time.Millisecond)
	return Table[Windowed[K], VA]{b: b, n: n, store: store, ks: ks, vs: vas}
}
