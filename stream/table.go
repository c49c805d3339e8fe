package stream

import (
	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// Table is a changelog stream seen as a table: the latest value per key,
// where a tombstone (null value) deletes the key. Every table in runnel is
// materialized in a store (named by Named, else generated) that joins read
// and that is restored from its changelog: a key-value store, or for the
// windowed tables of windowed aggregations a window or session store
// (which joins do not read: join their ToStream instead).
type Table[K, V any] struct {
	b     *Builder
	n     *engine.Node
	store string
	ks    serde.Serde[K]
	vs    serde.Serde[V]
}

// TableFrom reads a topic as a table.
func TableFrom[K, V any](b *Builder, topic string, ks serde.Serde[K], vs serde.Serde[V], opts ...Option) Table[K, V] {
	s := From(b, topic, ks, vs)
	return materialize(s, options(opts), "KTABLE-SOURCE")
}

// ToTable turns a stream into a table: each record upserts its key; a
// record with a null value deletes it.
func ToTable[K, V any](s Stream[K, V], opts ...Option) Table[K, V] {
	return materialize(s, options(opts), "KSTREAM-TOTABLE")
}

// materialize adds the processor that keeps a table's store up to date and
// forwards each change.
func materialize[K, V any](s Stream[K, V], c opConfig, prefix string) Table[K, V] {
	store := c.nameOr(s.b, prefix+"-STATE-STORE")
	s.b.g.AddStore(&engine.StoreDef{Name: store, Kind: engine.StoreKeyValue, Logged: !c.unlogged})
	n := s.add(prefix, opConfig{}, func() engine.Proc {
		return &upsert[K, V]{store: store, ks: s.ks, vs: s.vs}
	}, store)
	return Table[K, V]{b: s.b, n: n, store: store, ks: s.ks, vs: s.vs}
}

type upsert[K, V any] struct {
	store string
	ks    serde.Serde[K]
	vs    serde.Serde[V]
	kv    *KeyValueStore[K, V]
}

func (u *upsert[K, V]) Init(c *engine.ProcCtx) (err error) {
	u.kv, err = openKV(c, u.store, u.ks, u.vs)
	return err
}

func (u *upsert[K, V]) Process(c *engine.ProcCtx, r engine.Rec) error {
	if r.NullKey {
		c.Drop("null-key", r)
		return nil
	}
	k := engine.As[K](r.Key)
	var err error
	if r.Tombstone {
		err = u.kv.Delete(k)
	} else {
		err = u.kv.Put(k, engine.As[V](r.Value))
	}
	if err != nil {
		return err
	}
	return c.Forward(r)
}

func (u *upsert[K, V]) Close() error { return nil }

// Store is the name of the table's store.
func (t Table[K, V]) Store() string { return t.store }

// ToStream is the table's changelog as a stream: one record per update,
// deletes as records with null values.
func ToStream[K, V any](t Table[K, V]) Stream[K, V] {
	return Stream[K, V]{b: t.b, n: t.n, ks: t.ks, vs: t.vs}
}

// MapTableValues is a table of f applied to each value; deletes stay
// deletes.
func MapTableValues[K, V, V2 any](t Table[K, V], f func(V) V2, opts ...Option) Table[K, V2] {
	s := ToStream(t)
	n := s.add("KTABLE-MAPVALUES", opConfig{}, stateless(func(c *engine.ProcCtx, r engine.Rec) error {
		if !r.Tombstone {
			r.Value = f(engine.As[V](r.Value))
		}
		return c.Forward(r)
	}))
	out := derive[K, V, K, V2](s, n, false)
	c := options(opts)
	out.vs = serdeOr(t.b, "MapTableValues", c.valueSerde, out.vs)
	return materialize(out, c, "KTABLE-MAPVALUES")
}

// FilterTable is a table of the rows for which keep is true: a row that
// stops matching is deleted.
func FilterTable[K, V any](t Table[K, V], keep func(K, V) bool, opts ...Option) Table[K, V] {
	s := ToStream(t)
	n := s.add("KTABLE-FILTER", opConfig{}, stateless(func(c *engine.ProcCtx, r engine.Rec) error {
		if !r.Tombstone && !keep(engine.As[K](r.Key), engine.As[V](r.Value)) {
			r.Value, r.Tombstone = nil, true
		}
		return c.Forward(r)
	}))
	return materialize(derive[K, V, K, V](s, n, false), options(opts), "KTABLE-FILTER")
}

// joinable returns the table's store for a join, or records a build error
// when it is not a key-value store (a windowed table).
func (t Table[K, V]) joinable(op string) string {
	if def := t.b.g.Store(t.store); def != nil && def.Kind != engine.StoreKeyValue {
		t.b.g.Errorf("%s: table %s is windowed (a %s store): join its ToStream, or ToTable it into a key-value table", op, t.store, def.Kind)
	}
	return t.store
}
