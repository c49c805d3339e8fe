package stream

import (
	"time"

	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// Stream is an unbounded sequence of records with keys of type K and
// values of type V: each record is an independent event (a Table is the
// changelog view, where a key's later record replaces its earlier one).
// A Stream is a small value; pass it around freely.
type Stream[K, V any] struct {
	b       *Builder
	n       *engine.Node
	ks      serde.Serde[K]
	vs      serde.Serde[V]
	rekeyed bool // the key changed since the records were partitioned
}

// SourceOption configures a source.
type SourceOption func(*engine.Node)

// WithTimestamp sets the source's timestamp extractor (default: the
// record's own timestamp, CreateTime or LogAppendTime).
func WithTimestamp[K, V any](f func(key K, value V, recordTime time.Time) time.Time) SourceOption {
	return func(n *engine.Node) {
		n.Timestamp = func(r *engine.Rec) int64 {
			return f(engine.As[K](r.Key), engine.As[V](r.Value), time.UnixMilli(r.TS)).UnixMilli()
		}
	}
}

// From reads a topic as a stream.
func From[K, V any](b *Builder, topic string, ks serde.Serde[K], vs serde.Serde[V], opts ...SourceOption) Stream[K, V] {
	n := &engine.Node{
		Name: b.g.Name("KSTREAM-SOURCE"), Kind: engine.KindSource, Topics: []string{topic},
		DecodeKey: decoder(ks), DecodeValue: decoder(vs),
	}
	for _, o := range opts {
		o(n)
	}
	return Stream[K, V]{b: b, n: b.g.Add(n), ks: ks, vs: vs}
}

// WithSerdes returns s with other serdes for its keys and values (used
// where s is written to a topic or a store).
func WithSerdes[K, V any](s Stream[K, V], ks serde.Serde[K], vs serde.Serde[V]) Stream[K, V] {
	s.ks, s.vs = ks, vs
	return s
}

// add adds a processor fed by s.
func (s Stream[K, V]) add(prefix string, c opConfig, p func() engine.Proc, stores ...string) *engine.Node {
	return s.b.g.Add(&engine.Node{Name: c.nameOr(s.b, prefix), Kind: engine.KindProcessor, New: p, Stores: stores}, s.n)
}

func stateless(f func(c *engine.ProcCtx, r engine.Rec) error) func() engine.Proc {
	return func() engine.Proc { return engine.ProcFunc(f) }
}

// derive returns a stream of other types fed by node n.
func derive[K, V, K2, V2 any](s Stream[K, V], n *engine.Node, rekeyed bool) Stream[K2, V2] {
	return Stream[K2, V2]{b: s.b, n: n, ks: serdeLike[K, K2](s.ks), vs: serdeLike[V, V2](s.vs), rekeyed: s.rekeyed || rekeyed}
}

// serdeLike keeps a serde across an operation that keeps the type, and
// falls back to serde.Default when the type changed.
func serdeLike[T, T2 any](s serde.Serde[T]) serde.Serde[T2] {
	if same, ok := any(s).(serde.Serde[T2]); ok {
		return same
	}
	return serde.Default[T2]()
}

// Map transforms each record into a new key and value. The key changes,
// so a later grouping or join repartitions first. A record with a null
// value (a tombstone, as ToStream of a table gives) stays a tombstone: f
// is called with V's zero value for its new key, and its value is dropped.
func Map[K, V, K2, V2 any](s Stream[K, V], f func(K, V) (K2, V2), opts ...Option) Stream[K2, V2] {
	n := s.add("KSTREAM-MAP", options(opts), stateless(func(c *engine.ProcCtx, r engine.Rec) error {
		k, v := f(engine.As[K](r.Key), engine.As[V](r.Value))
		r.Key, r.NullKey = k, false
		if !r.Tombstone {
			r.Value = v
		}
		return c.Forward(r)
	}))
	return derive[K, V, K2, V2](s, n, true)
}

// MapValues transforms each value; keys, and so partitioning, stay. A
// null value (a tombstone) passes through as null, without calling f.
func MapValues[K, V, V2 any](s Stream[K, V], f func(V) V2, opts ...Option) Stream[K, V2] {
	n := s.add("KSTREAM-MAPVALUES", options(opts), stateless(func(c *engine.ProcCtx, r engine.Rec) error {
		if !r.Tombstone {
			r.Value = f(engine.As[V](r.Value))
		}
		return c.Forward(r)
	}))
	return derive[K, V, K, V2](s, n, false)
}

// SelectKey sets a new key computed from each record.
func SelectKey[K, V, K2 any](s Stream[K, V], f func(K, V) K2, opts ...Option) Stream[K2, V] {
	n := s.add("KSTREAM-KEY-SELECT", options(opts), stateless(func(c *engine.ProcCtx, r engine.Rec) error {
		r.Key, r.NullKey = f(engine.As[K](r.Key), engine.As[V](r.Value)), false
		return c.Forward(r)
	}))
	return derive[K, V, K2, V](s, n, true)
}

// FlatMap turns each record into zero or more records.
func FlatMap[K, V, K2, V2 any](s Stream[K, V], f func(K, V) []KV[K2, V2], opts ...Option) Stream[K2, V2] {
	n := s.add("KSTREAM-FLATMAP", options(opts), stateless(func(c *engine.ProcCtx, r engine.Rec) error {
		for _, kv := range f(engine.As[K](r.Key), engine.As[V](r.Value)) {
			out := r
			out.Key, out.Value, out.NullKey, out.Tombstone = kv.Key, kv.Value, false, false
			if err := c.Forward(out); err != nil {
				return err
			}
		}
		return nil
	}))
	return derive[K, V, K2, V2](s, n, true)
}

// FlatMapValues turns each value into zero or more values with the same
// key. A null value (a tombstone) passes through as null, without calling
// f.
func FlatMapValues[K, V, V2 any](s Stream[K, V], f func(V) []V2, opts ...Option) Stream[K, V2] {
	n := s.add("KSTREAM-FLATMAPVALUES", options(opts), stateless(func(c *engine.ProcCtx, r engine.Rec) error {
		if r.Tombstone {
			return c.Forward(r)
		}
		for _, v := range f(engine.As[V](r.Value)) {
			out := r
			out.Value, out.Tombstone = v, false
			if err := c.Forward(out); err != nil {
				return err
			}
		}
		return nil
	}))
	return derive[K, V, K, V2](s, n, false)
}

// Filter keeps the records for which keep is true.
func Filter[K, V any](s Stream[K, V], keep func(K, V) bool, opts ...Option) Stream[K, V] {
	n := s.add("KSTREAM-FILTER", options(opts), stateless(func(c *engine.ProcCtx, r engine.Rec) error {
		if keep(engine.As[K](r.Key), engine.As[V](r.Value)) {
			return c.Forward(r)
		}
		return nil
	}))
	return derive[K, V, K, V](s, n, false)
}

// FilterNot drops the records for which drop is true.
func FilterNot[K, V any](s Stream[K, V], drop func(K, V) bool, opts ...Option) Stream[K, V] {
	return Filter(s, func(k K, v V) bool { return !drop(k, v) }, opts...)
}

// Peek calls f on each record and passes the record on.
func Peek[K, V any](s Stream[K, V], f func(K, V), opts ...Option) Stream[K, V] {
	n := s.add("KSTREAM-PEEK", options(opts), stateless(func(c *engine.ProcCtx, r engine.Rec) error {
		f(engine.As[K](r.Key), engine.As[V](r.Value))
		return c.Forward(r)
	}))
	return derive[K, V, K, V](s, n, false)
}

// Foreach calls f on each record; nothing follows it.
func Foreach[K, V any](s Stream[K, V], f func(K, V), opts ...Option) {
	s.add("KSTREAM-FOREACH", options(opts), stateless(func(_ *engine.ProcCtx, r engine.Rec) error {
		f(engine.As[K](r.Key), engine.As[V](r.Value))
		return nil
	}))
}

// Branch splits s: a record goes to the stream of the first predicate it
// matches, or nowhere if it matches none (add a last predicate that is
// always true for a default branch).
func Branch[K, V any](s Stream[K, V], preds ...func(K, V) bool) []Stream[K, V] {
	var children []string
	split := s.add("KSTREAM-BRANCH", opConfig{}, stateless(func(c *engine.ProcCtx, r engine.Rec) error {
		k, v := engine.As[K](r.Key), engine.As[V](r.Value)
		for i, p := range preds {
			if p(k, v) {
				return c.ForwardTo(children[i], r)
			}
		}
		return nil
	}))
	out := make([]Stream[K, V], len(preds))
	for i := range preds {
		child := s.b.g.Add(&engine.Node{Name: s.b.g.Name("KSTREAM-BRANCHCHILD"), Kind: engine.KindProcessor, New: stateless(forward)}, split)
		children = append(children, child.Name)
		out[i] = derive[K, V, K, V](s, child, false)
	}
	return out
}

func forward(c *engine.ProcCtx, r engine.Rec) error { return c.Forward(r) }

// Merge interleaves the records of several streams of the same types.
func Merge[K, V any](first Stream[K, V], rest ...Stream[K, V]) Stream[K, V] {
	parents := []*engine.Node{first.n}
	rekeyed := first.rekeyed
	for _, s := range rest {
		parents = append(parents, s.n)
		rekeyed = rekeyed || s.rekeyed
	}
	n := first.b.g.Add(&engine.Node{Name: first.b.g.Name("KSTREAM-MERGE"), Kind: engine.KindProcessor, New: stateless(forward)}, parents...)
	return derive[K, V, K, V](first, n, rekeyed)
}

// To writes the stream to a topic, keys and values encoded with the
// stream's serdes, partitioned by key hash as Kafka's default partitioner
// does.
func (s Stream[K, V]) To(topic string, opts ...Option) {
	c := options(opts)
	s.b.g.Add(&engine.Node{
		Name: c.nameOr(s.b, "KSTREAM-SINK"), Kind: engine.KindSink, Topic: topic,
		EncodeKey: encoder(s.ks), EncodeValue: encoder(s.vs),
	}, s.n)
}

// Repartition writes s through an internal topic, "<app id>-<name>-
// repartition", partitioned by the current key, and reads it back: what a
// grouping or join does by itself after the key changed.
func Repartition[K, V any](s Stream[K, V], opts ...Option) Stream[K, V] {
	return s.repartition(options(opts), "KSTREAM-REPARTITION")
}

func (s Stream[K, V]) repartition(c opConfig, prefix string) Stream[K, V] {
	name := c.nameOr(s.b, prefix)
	topic := name + "-repartition"
	s.b.g.Add(&engine.Node{
		Name: name + "-repartition-sink", Kind: engine.KindSink, Topic: topic, Internal: true,
		Partitions: c.partitions, EncodeKey: encoder(s.ks), EncodeValue: encoder(s.vs),
	}, s.n)
	src := s.b.g.Add(&engine.Node{
		Name: name + "-repartition-source", Kind: engine.KindSource, Topics: []string{topic}, Internal: true,
		DecodeKey: decoder(s.ks), DecodeValue: decoder(s.vs),
	})
	s.n, s.rekeyed = src, false
	return s
}

// keyed is s as an operation that needs its records partitioned by key
// (an aggregation, a join) takes it: with the key serde the options give,
// and repartitioned through "<app id>-<name>-repartition" if its key
// changed since it was read.
func (s Stream[K, V]) keyed(c opConfig, name string) Stream[K, V] {
	if ks, ok := c.keySerde.(serde.Serde[K]); ok {
		s.ks = ks
	}
	if s.rekeyed {
		s = s.repartition(opConfig{name: name, partitions: c.partitions}, "")
	}
	return s
}

// Node returns the name of the processor that produces s (for the
// Processor API's ForwardTo, and to find it in Describe).
func (s Stream[K, V]) Node() string { return s.n.Name }
