package stream

import (
	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// JoinTables is the inner table-table join: a row for every key present in
// both a and b, f(a's row, b's row). An update on either side looks the
// other side up in its store and updates the result; when the result no
// longer exists (a row was deleted on either side) the result table gets a
// tombstone.
//
// Tombstones: the result table is materialized (in a store named by Named,
// else generated), and a tombstone is forwarded only for a key that has a
// row in it. An update that gives no result for a key that never had one
// (or whose result was already deleted) produces nothing, so a delete on
// one side of a key the other side never had is not echoed downstream.
// Results carry the timestamp of the update that caused them.
func JoinTables[K, V1, V2, VR any](a Table[K, V1], b Table[K, V2], f func(V1, V2) VR, opts ...Option) Table[K, VR] {
	return tableJoin(a, b, options(opts), "KTABLE-JOIN", func(l *V1, r *V2) (VR, bool) {
		if l == nil || r == nil {
			var zero VR
			return zero, false
		}
		return f(*l, *r), true
	})
}

// LeftJoinTables is the left table-table join: a row for every key of a,
// f(a's row, b's row or nil). Tombstones as in JoinTables.
func LeftJoinTables[K, V1, V2, VR any](a Table[K, V1], b Table[K, V2], f func(V1, *V2) VR, opts ...Option) Table[K, VR] {
	return tableJoin(a, b, options(opts), "KTABLE-LEFTJOIN", func(l *V1, r *V2) (VR, bool) {
		if l == nil {
			var zero VR
			return zero, false
		}
		return f(*l, r), true
	})
}

// OuterJoinTables is the outer table-table join: a row for every key of a
// or b, f(a's row or nil, b's row or nil), never both nil. Tombstones as in
// JoinTables.
func OuterJoinTables[K, V1, V2, VR any](a Table[K, V1], b Table[K, V2], f func(*V1, *V2) VR, opts ...Option) Table[K, VR] {
	return tableJoin(a, b, options(opts), "KTABLE-OUTERJOIN", func(l *V1, r *V2) (VR, bool) {
		if l == nil && r == nil {
			var zero VR
			return zero, false
		}
		return f(l, r), true
	})
}

// tableJoin adds the two side taggers, the join processor (connected to
// both input stores and to the result's store) and the result's
// materialization.
func tableJoin[K, V1, V2, VR any](a Table[K, V1], b Table[K, V2], c opConfig, prefix string, f func(*V1, *V2) (VR, bool)) Table[K, VR] {
	g := a.b.g
	base, store := c.name, c.name
	if base == "" {
		base = g.Name(prefix)
		store = base + "-STATE-STORE"
	}
	copartition(a.b, a.n, b.n)
	vrs := serdeOr(a.b, prefix, c.valueSerde, serde.Default[VR]())
	left, right := tagSide(a.b, a.n, base, false), tagSide(a.b, b.n, base, true)
	a.store, b.store = a.joinable(prefix), b.joinable(prefix)
	spec := tableJoinSpec[K, V1, V2, VR]{left: a.store, right: b.store, result: store, ks: a.ks, ks2: b.ks, v1s: a.vs, v2s: b.vs, vrs: vrs, f: f}
	n := g.Add(&engine.Node{Name: base, Kind: engine.KindProcessor, Stores: []string{a.store, b.store, store}, New: func() engine.Proc {
		return &tableJoiner[K, V1, V2, VR]{spec: spec}
	}}, left, right)
	joined := Stream[K, VR]{b: a.b, n: n, ks: a.ks, vs: vrs}
	return materialize(joined, opConfig{name: store, unlogged: c.unlogged}, "KTABLE-MERGE")
}

type tableJoinSpec[K, V1, V2, VR any] struct {
	left, right, result string
	ks, ks2             serde.Serde[K] // the keys of a's and b's stores
	v1s                 serde.Serde[V1]
	v2s                 serde.Serde[V2]
	vrs                 serde.Serde[VR]
	f                   func(*V1, *V2) (VR, bool)
}

// tableJoiner computes a table join's new result for each update of
// either side. The inputs' stores already hold the update (each table's
// processor writes its store before forwarding); the result's store is
// written by the materialization that follows.
type tableJoiner[K, V1, V2, VR any] struct {
	spec   tableJoinSpec[K, V1, V2, VR]
	left   *KeyValueStore[K, V1]
	right  *KeyValueStore[K, V2]
	result *KeyValueStore[K, VR]
}

func (j *tableJoiner[K, V1, V2, VR]) Init(c *engine.ProcCtx) (err error) {
	s := j.spec
	if j.left, err = openKV(c, s.left, s.ks, s.v1s); err != nil {
		return err
	}
	if j.right, err = openKV(c, s.right, s.ks2, s.v2s); err != nil {
		return err
	}
	j.result, err = openKV(c, s.result, s.ks, s.vrs)
	return err
}

func (j *tableJoiner[K, V1, V2, VR]) Process(c *engine.ProcCtx, r engine.Rec) error {
	side := r.Value.(joinSide)
	if r.NullKey {
		c.Drop("null-key", r)
		return nil
	}
	k := engine.As[K](r.Key)
	l, rt, err := j.rows(k, side, r.Tombstone)
	if err != nil {
		return err
	}
	if out, ok := j.spec.f(l, rt); ok {
		r.Value, r.Tombstone = out, false
		return c.Forward(r)
	}
	if _, had, err := j.result.Get(k); err != nil || !had {
		return err
	}
	r.Value, r.Tombstone = nil, true
	return c.Forward(r)
}

// rows returns both sides' rows for k: the updated side's from the
// record, the other side's from its store; nil where there is none.
func (j *tableJoiner[K, V1, V2, VR]) rows(k K, side joinSide, tombstone bool) (*V1, *V2, error) {
	if side.right {
		var rt *V2
		if !tombstone {
			v := engine.As[V2](side.v)
			rt = &v
		}
		l, err := joinLookup(j.left, k)
		return l, rt, err
	}
	var l *V1
	if !tombstone {
		v := engine.As[V1](side.v)
		l = &v
	}
	rt, err := joinLookup(j.right, k)
	return l, rt, err
}

// joinLookup returns k's value in kv, or nil.
func joinLookup[K, V any](kv *KeyValueStore[K, V], k K) (*V, error) {
	v, ok, err := kv.Get(k)
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

func (j *tableJoiner[K, V1, V2, VR]) Close() error { return nil }
