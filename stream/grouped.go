package stream

import (
	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// Grouped is a stream grouped by key, ready to aggregate (or to window,
// then aggregate). If the key changed since the records were partitioned,
// the aggregation first repartitions through an internal topic.
type Grouped[K, V any] struct {
	s Stream[K, V]
}

// GroupByKey groups a stream by its key.
func GroupByKey[K, V any](s Stream[K, V]) Grouped[K, V] { return Grouped[K, V]{s: s} }

// GroupBy groups a stream by a new key computed from each record.
func GroupBy[K, V, K2 any](s Stream[K, V], key func(K, V) K2, opts ...Option) Grouped[K2, V] {
	return Grouped[K2, V]{s: SelectKey(s, key, opts...)}
}

// Count counts the records per key. Records with a null key or value are
// dropped (and counted in the dropped-records metrics).
func (g Grouped[K, V]) Count(opts ...Option) Table[K, int64] {
	return aggregate(g, options(opts), "KSTREAM-AGGREGATE", serde.Int64,
		func(_ K, _ V, n int64, _ bool) int64 { return n + 1 })
}

// Reduce combines the values per key: the first value as it is, then
// f(aggregate, value).
func (g Grouped[K, V]) Reduce(f func(agg, v V) V, opts ...Option) Table[K, V] {
	c := options(opts)
	return aggregate(g, c, "KSTREAM-REDUCE", serdeOr(g.s.b, "Reduce", c.valueSerde, g.s.vs),
		func(_ K, v, agg V, found bool) V {
			if !found {
				return v
			}
			return f(agg, v)
		})
}

// Aggregate folds the values per key into an aggregate of another type:
// init gives the first aggregate, add folds a record into it.
func Aggregate[K, V, VA any](g Grouped[K, V], init func() VA, add func(K, V, VA) VA, opts ...Option) Table[K, VA] {
	c := options(opts)
	return aggregate(g, c, "KSTREAM-AGGREGATE", serdeOr(g.s.b, "Aggregate", c.valueSerde, serde.Default[VA]()),
		func(k K, v V, agg VA, found bool) VA {
			if !found {
				agg = init()
			}
			return add(k, v, agg)
		})
}

func aggregate[K, V, VA any](g Grouped[K, V], c opConfig, prefix string, vas serde.Serde[VA], step func(K, V, VA, bool) VA) Table[K, VA] {
	store := c.nameOr(g.s.b, prefix+"-STATE-STORE")
	s := g.s.keyed(c, store)
	s.b.g.AddStore(&engine.StoreDef{Name: store, Kind: engine.StoreKeyValue, Logged: !c.unlogged})
	n := s.add(prefix, opConfig{}, func() engine.Proc {
		return &aggregator[K, V, VA]{store: store, ks: s.ks, vs: vas, step: step}
	}, store)
	return Table[K, VA]{b: s.b, n: n, store: store, ks: s.ks, vs: vas}
}

type aggregator[K, V, VA any] struct {
	store string
	ks    serde.Serde[K]
	vs    serde.Serde[VA]
	step  func(K, V, VA, bool) VA
	kv    *KeyValueStore[K, VA]
}

func (a *aggregator[K, V, VA]) Init(c *engine.ProcCtx) (err error) {
	a.kv, err = openKV(c, a.store, a.ks, a.vs)
	return err
}

func (a *aggregator[K, V, VA]) Process(c *engine.ProcCtx, r engine.Rec) error {
	if c.DropNulls(r) {
		return nil
	}
	k := engine.As[K](r.Key)
	old, found, err := a.kv.Get(k)
	if err != nil {
		return err
	}
	agg := a.step(k, engine.As[V](r.Value), old, found)
	if err := a.kv.Put(k, agg); err != nil {
		return err
	}
	r.Value = agg
	return c.Forward(r)
}

func (a *aggregator[K, V, VA]) Close() error { return nil }
