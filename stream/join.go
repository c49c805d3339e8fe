package stream

import (
	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// Joins follow Kafka Streams' semantics:
//
//   - Stream-table (Join, LeftJoin): each stream record looks the table up
//     by key, in the table's store as it is when the record is processed
//     (no time travel). Table updates produce no output.
//   - Table-table (JoinTables, LeftJoinTables, OuterJoinTables): an update
//     on either side looks the other side up; the result is a table.
//   - Stream-stream (JoinStreams, LeftJoinStreams, OuterJoinStreams): records
//     of the same key join when their timestamps are close enough
//     (JoinWindows); both sides are buffered in window stores.
//
// Every join needs its inputs co-partitioned: the same key in the same
// partition number on both sides. A join records the topics feeding its
// two sides in Topology.Copartitioned, and the runtime refuses to start
// when their partition counts differ. A stream whose key changed (Map,
// SelectKey, FlatMap, Process) is first repartitioned through an internal
// topic "<app id>-<name>-left-repartition" (or "-right-" for the other
// side of a stream-stream join), whose topic is then in the group.
//
// Options: Named names the join (its processors, stores and repartition
// topics), WithValueSerde sets the serde of the results, WithKeySerde and
// Partitions configure a repartition, WithoutChangelog keeps a
// stream-stream join's buffers or a table join's result out of changelogs.

// joinSide tags a record with the side of the join it came from, so that
// one processor instance per task sees both sides (and owns their stores
// and the join's stream time).
type joinSide struct {
	right bool
	v     any
}

// tagSide adds the processor that tags s's records as coming from one side
// of the join named base.
func tagSide(b *Builder, from *engine.Node, base string, right bool) *engine.Node {
	name := base + "-this"
	if right {
		name = base + "-other"
	}
	tag := stateless(func(c *engine.ProcCtx, r engine.Rec) error {
		r.Value = joinSide{right: right, v: r.Value}
		return c.Forward(r)
	})
	return b.g.Add(&engine.Node{Name: name, Kind: engine.KindProcessor, New: tag}, from)
}

// copartition records that the topics feeding a and b must have the same
// partition count.
func copartition(b *Builder, a, other *engine.Node) {
	if srcs := engine.SourcesOf(a, other); len(srcs) > 1 {
		b.g.Copartition(srcs...)
	}
}

// Join is the inner stream-table join: each record of s whose key has a
// row in t gives f(value, row), with the record's key and timestamp.
// Records without a row produce nothing; table updates produce nothing.
// Records of s with a null key or value are dropped and counted.
func Join[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], f func(V, VT) VR, opts ...Option) Stream[K, VR] {
	return streamTableJoin(s, t, options(opts), "KSTREAM-JOIN", func(v V, vt *VT) (VR, bool) {
		if vt == nil {
			var zero VR
			return zero, false
		}
		return f(v, *vt), true
	})
}

// LeftJoin is the left stream-table join: every record of s gives
// f(value, row), with a nil row when t has none for the key.
func LeftJoin[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], f func(V, *VT) VR, opts ...Option) Stream[K, VR] {
	return streamTableJoin(s, t, options(opts), "KSTREAM-LEFTJOIN", func(v V, vt *VT) (VR, bool) {
		return f(v, vt), true
	})
}

func streamTableJoin[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], c opConfig, prefix string, f func(V, *VT) (VR, bool)) Stream[K, VR] {
	base := c.nameOr(s.b, prefix)
	s = s.keyed(c, base+"-left")
	copartition(s.b, s.n, t.n)
	t.store = t.joinable(prefix)
	n := s.b.g.Add(&engine.Node{Name: base, Kind: engine.KindProcessor, Stores: []string{t.store}, New: func() engine.Proc {
		return &streamTableJoiner[K, V, VT, VR]{table: t.store, ks: t.ks, vts: t.vs, f: f}
	}}, s.n)
	out := derive[K, V, K, VR](s, n, false)
	out.vs = serdeOr(s.b, prefix, c.valueSerde, out.vs)
	return out
}

// streamTableJoiner is the stream side of a stream-table join: it reads
// the table's store (keys encoded with the table's serde), which the
// table's own processor keeps up to date.
type streamTableJoiner[K, V, VT, VR any] struct {
	table string
	ks    serde.Serde[K]
	vts   serde.Serde[VT]
	f     func(V, *VT) (VR, bool)
	kv    *KeyValueStore[K, VT]
}

func (j *streamTableJoiner[K, V, VT, VR]) Init(c *engine.ProcCtx) (err error) {
	j.kv, err = openKV(c, j.table, j.ks, j.vts)
	return err
}

func (j *streamTableJoiner[K, V, VT, VR]) Process(c *engine.ProcCtx, r engine.Rec) error {
	if c.DropNulls(r) {
		return nil
	}
	row, err := joinLookup(j.kv, engine.As[K](r.Key))
	if err != nil {
		return err
	}
	out, ok := j.f(engine.As[V](r.Value), row)
	if !ok {
		return nil
	}
	r.Value = out
	return c.Forward(r)
}

func (j *streamTableJoiner[K, V, VT, VR]) Close() error { return nil }
