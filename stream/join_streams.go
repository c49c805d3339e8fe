package stream

import (
	"time"

	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// JoinWindows says which records of two streams join: a record of the
// first stream at time ta joins the records of the second with the same
// key and a time tb with ta-before <= tb <= ta+after. Grace is how long
// after a record's window ends (stream time past ta+after, or tb+before
// for the second stream) records that fall in it are still accepted.
type JoinWindows struct {
	before, after, grace time.Duration
}

// JoinWindow returns windows in which records join when their timestamps
// differ by at most d (|ta - tb| <= d), with no grace.
func JoinWindow(d time.Duration) JoinWindows { return JoinWindows{before: d, after: d} }

// Before sets how much earlier than a first-stream record a second-stream
// record may be and still join.
func (w JoinWindows) Before(d time.Duration) JoinWindows { w.before = d; return w }

// After sets how much later than a first-stream record a second-stream
// record may be and still join.
func (w JoinWindows) After(d time.Duration) JoinWindows { w.after = d; return w }

// Grace sets how long records are accepted after their window ended; later
// ones are dropped (counted as "dropped-records-late").
func (w JoinWindows) Grace(g time.Duration) JoinWindows { w.grace = g; return w }

// retention is how long a buffered record can still find a partner: the
// last partner that is not late for it comes before+after later, plus
// grace.
func (w JoinWindows) retention() time.Duration { return w.before + w.after + w.grace }

// JoinStreams is the inner windowed stream-stream join: for each pair of
// records of a and b with the same key whose timestamps fall within w,
// f(a's value, b's value), with the key and the later of the two
// timestamps. Records are buffered on both sides, so the pair is found
// whichever arrives first, out-of-order records included as long as the
// second is not late: a record's window closes when the join's stream
// time (the largest timestamp it has seen on either side) passes its
// time + after (a) or + before (b), plus grace, and a record arriving
// after its window closed is dropped and counted ("dropped-records-late"),
// as are records with a null key or value.
func JoinStreams[K, V1, V2, VR any](a Stream[K, V1], b Stream[K, V2], w JoinWindows, f func(V1, V2) VR, opts ...Option) Stream[K, VR] {
	return streamJoin(a, b, w, options(opts), "KSTREAM-JOIN", joinInner, func(l *V1, r *V2) VR { return f(*l, *r) })
}

// LeftJoinStreams is the left windowed join: the pairs of JoinStreams,
// plus f(value, nil) for each record of a that found no partner in b. That
// result is emitted once, when the record's window closes (stream time
// past its time + after + grace), never eagerly: a partner arriving out of
// order but in time gives the joined result and no unjoined one. It
// carries the record's own timestamp.
func LeftJoinStreams[K, V1, V2, VR any](a Stream[K, V1], b Stream[K, V2], w JoinWindows, f func(V1, *V2) VR, opts ...Option) Stream[K, VR] {
	return streamJoin(a, b, w, options(opts), "KSTREAM-LEFTJOIN", joinLeft, func(l *V1, r *V2) VR { return f(*l, r) })
}

// OuterJoinStreams is the outer windowed join: LeftJoinStreams's results,
// plus f(nil, value) for each record of b that found no partner in a, once
// its window has closed (stream time past its time + before + grace).
func OuterJoinStreams[K, V1, V2, VR any](a Stream[K, V1], b Stream[K, V2], w JoinWindows, f func(*V1, *V2) VR, opts ...Option) Stream[K, VR] {
	return streamJoin(a, b, w, options(opts), "KSTREAM-OUTERJOIN", joinOuter, f)
}

type joinKind int

const (
	joinInner joinKind = iota
	joinLeft
	joinOuter
)

// unjoined says whether records of a side that found no partner give a
// result.
func (k joinKind) unjoined(right bool) bool {
	return k == joinOuter || (k == joinLeft && !right)
}

// streamJoinSpec is what every task's instance of a stream-stream join
// shares: store names, serdes, windows, the joiner.
type streamJoinSpec[K, V1, V2, VR any] struct {
	left, right, pending string // pending is "" for an inner join
	kind                 joinKind
	before, after, grace int64 // ms
	ks                   serde.Serde[K]
	v1s                  serde.Serde[V1]
	v2s                  serde.Serde[V2]
	f                    func(*V1, *V2) VR
}

func streamJoin[K, V1, V2, VR any](a Stream[K, V1], b Stream[K, V2], w JoinWindows, c opConfig, prefix string, kind joinKind, f func(*V1, *V2) VR) Stream[K, VR] {
	g := a.b.g
	base := c.nameOr(a.b, prefix)
	if w.before < 0 || w.after < 0 || w.grace < 0 {
		g.Errorf("%s: join windows must not be negative (before %v, after %v, grace %v)", base, w.before, w.after, w.grace)
	}
	a, b = a.keyed(c, base+"-left"), b.keyed(c, base+"-right")
	copartition(a.b, a.n, b.n)
	spec := streamJoinSpec[K, V1, V2, VR]{
		left: base + "-this-join-store", right: base + "-other-join-store", kind: kind,
		before: w.before.Milliseconds(), after: w.after.Milliseconds(), grace: w.grace.Milliseconds(),
		ks: a.ks, v1s: a.vs, v2s: b.vs, f: f,
	}
	stores := []string{spec.left, spec.right}
	for _, name := range stores {
		g.AddStore(&engine.StoreDef{Name: name, Kind: engine.StoreWindow, Logged: !c.unlogged, Retention: w.retention()})
	}
	if kind != joinInner {
		// Not a window layout, and its rows are deleted when emitted, so a
		// plain key-value store (compacted changelog) as in Kafka Streams.
		spec.pending = base + "-outer-shared-join-store"
		stores = append(stores, spec.pending)
		g.AddStore(&engine.StoreDef{Name: spec.pending, Kind: engine.StoreKeyValue, Logged: !c.unlogged})
	}
	left, right := tagSide(a.b, a.n, base, false), tagSide(a.b, b.n, base, true)
	n := g.Add(&engine.Node{Name: base, Kind: engine.KindProcessor, Stores: stores, New: func() engine.Proc {
		return &streamJoiner[K, V1, V2, VR]{spec: spec}
	}}, left, right)
	out := Stream[K, VR]{b: a.b, n: n, ks: a.ks, vs: serde.Default[VR]()}
	out.vs = serdeOr(a.b, prefix, c.valueSerde, out.vs)
	return out
}
