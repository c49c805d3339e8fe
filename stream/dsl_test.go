package stream_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
	"github.com/runnel-io/runnel/stream/streamtest"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func build(t *testing.T, b *stream.Builder, opts ...streamtest.Option) *streamtest.Driver {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	d, err := streamtest.New(topo, opts...)
	if err != nil {
		t.Fatalf("driver: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readAll[K, V any](t *testing.T, out *streamtest.OutputTopic[K, V]) []string {
	t.Helper()
	recs, err := out.ReadAll()
	must(t, err)
	var got []string
	for _, r := range recs {
		if r.Tombstone {
			got = append(got, fmt.Sprintf("%v=<nil>", r.Key))
			continue
		}
		got = append(got, fmt.Sprintf("%v=%v", r.Key, r.Value))
	}
	return got
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestStatelessOperators(t *testing.T) {
	b := stream.NewBuilder()
	in := stream.From(b, "in", serde.String, serde.String)
	upper := stream.MapValues(in, strings.ToUpper)
	words := stream.FlatMapValues(upper, strings.Fields)
	long := stream.Filter(words, func(_, w string) bool { return len(w) > 2 })
	notX := stream.FilterNot(long, func(_, w string) bool { return strings.HasPrefix(w, "X") })
	var peeked []string
	peek := stream.Peek(notX, func(k, v string) { peeked = append(peeked, k+":"+v) })
	lens := stream.Map(peek, func(k, v string) (string, int64) { return v, int64(len(v)) })
	lens.To("lengths")
	byFirst := stream.SelectKey(in, func(_, v string) string { return v[:1] })
	pairs := stream.FlatMap(byFirst, func(k, v string) []stream.KV[string, string] {
		return []stream.KV[string, string]{{Key: k, Value: v}, {Key: k + k, Value: v}}
	})
	pairs.To("pairs")
	var seen []string
	stream.Foreach(in, func(k, v string) { seen = append(seen, k) })
	br := stream.Branch(in,
		func(_, v string) bool { return strings.HasPrefix(v, "a") },
		func(_, v string) bool { return strings.HasPrefix(v, "b") },
		func(string, string) bool { return true })
	stream.Merge(br[0], br[2]).To("not-b")
	br[1].To("b")

	d := build(t, b)
	in2 := streamtest.Input(d, "in", serde.String, serde.String)
	must(t, in2.Pipe("k1", "abc de xyzzy", at(1)))
	must(t, in2.Pipe("k2", "box", at(2)))
	must(t, in2.Pipe("k3", "cat", at(3)))

	expect(t, readAll(t, streamtest.Output(d, "lengths", serde.String, serde.Int64)), "ABC=3", "BOX=3", "CAT=3")
	expect(t, peeked, "k1:ABC", "k2:BOX", "k3:CAT")
	expect(t, readAll(t, streamtest.Output(d, "pairs", serde.String, serde.String)),
		"a=abc de xyzzy", "aa=abc de xyzzy", "b=box", "bb=box", "c=cat", "cc=cat")
	expect(t, seen, "k1", "k2", "k3")
	expect(t, readAll(t, streamtest.Output(d, "not-b", serde.String, serde.String)), "k1=abc de xyzzy", "k3=cat")
	expect(t, readAll(t, streamtest.Output(d, "b", serde.String, serde.String)), "k2=box")
}

func TestGroupByCountRepartitions(t *testing.T) {
	b := stream.NewBuilder()
	lines := stream.From(b, "lines", serde.String, serde.String)
	words := stream.FlatMapValues(lines, strings.Fields)
	counts := stream.GroupBy(words, func(_, w string) string { return w }).Count(stream.Named("counts"))
	stream.ToStream(counts).To("counts-out")
	topo, err := b.Build()
	must(t, err)
	if len(topo.Subs) != 2 {
		t.Fatalf("want 2 sub-topologies (cut at the repartition), got %d:\n%s", len(topo.Subs), topo.Describe())
	}
	desc := topo.Describe()
	for _, want := range []string{"Sub-topology: 1", "repartition: counts-repartition", "changelog: counts-changelog", "(stores: [counts])"} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe lacks %q:\n%s", want, desc)
		}
	}
	if m := topo.Mermaid(); !strings.Contains(m, "flowchart LR") || !strings.Contains(m, "s_counts") {
		t.Errorf("Mermaid: %s", m)
	}
	d, err := streamtest.New(topo, streamtest.AppID("wc"))
	must(t, err)
	defer d.Close()
	in := streamtest.Input(d, "lines", serde.String, serde.String)
	must(t, in.Pipe("", "a b a", at(0)))
	must(t, in.PipeNullKey("b c", at(1)))
	expect(t, readAll(t, streamtest.Output(d, "counts-out", serde.String, serde.Int64)), "a=1", "b=1", "a=2", "b=2", "c=1")
	if n := len(d.Messages("wc-counts-repartition")); n != 5 {
		t.Errorf("repartition topic has %d records, want 5", n)
	}
	latest, err := streamtest.Latest(streamtest.Output(d, "wc-counts-changelog", serde.String, serde.Int64))
	must(t, err)
	if fmt.Sprint(latest) != "map[a:2 b:2 c:1]" {
		t.Errorf("changelog: %v", latest)
	}
	store := streamtest.Store(d, "counts", serde.String, serde.Int64)
	if n, ok, err := store.Get("a"); err != nil || !ok || n != 2 {
		t.Errorf("store a = %d %v %v", n, ok, err)
	}
}

func TestAggregateReduceAndNullKeys(t *testing.T) {
	b := stream.NewBuilder()
	in := stream.From(b, "amounts", serde.String, serde.Int64)
	g := stream.GroupByKey(in)
	stream.ToStream(g.Reduce(func(a, v int64) int64 { return max(a, v) }, stream.Named("max"))).To("max")
	type stats struct{ N, Sum int64 }
	agg := stream.Aggregate(g, func() stats { return stats{} },
		func(_ string, v int64, s stats) stats { return stats{s.N + 1, s.Sum + v} }, stream.Named("stats"))
	stream.ToStream(stream.MapTableValues(agg, func(s stats) int64 { return s.Sum / s.N })).To("mean")

	d := build(t, b)
	in2 := streamtest.Input(d, "amounts", serde.String, serde.Int64)
	must(t, in2.Pipe("x", 4, at(0)))
	must(t, in2.Pipe("x", 2, at(1)))
	must(t, in2.Pipe("y", 9, at(2)))
	must(t, in2.PipeNullKey(100, at(3)))
	must(t, in2.Tombstone("x", at(4)))
	expect(t, readAll(t, streamtest.Output(d, "max", serde.String, serde.Int64)), "x=4", "x=4", "y=9")
	expect(t, readAll(t, streamtest.Output(d, "mean", serde.String, serde.Int64)), "x=4", "x=3", "y=9")
	m := d.Metrics()
	if m["dropped-records-null-key"] != 2 || m["dropped-records-null-value"] != 2 {
		t.Errorf("metrics %v: want 2 null-key and 2 null-value drops (one per aggregation)", m)
	}
}

func TestTables(t *testing.T) {
	b := stream.NewBuilder()
	users := stream.TableFrom(b, "users", serde.String, serde.String, stream.Named("users"))
	adults := stream.FilterTable(users, func(_, v string) bool { return !strings.HasPrefix(v, "kid") })
	stream.ToStream(stream.MapTableValues(adults, strings.ToUpper)).To("adults")
	events := stream.From(b, "events", serde.String, serde.String)
	stream.ToStream(stream.ToTable(events, stream.Named("last-event"))).To("last")

	d := build(t, b)
	u := streamtest.Input(d, "users", serde.String, serde.String)
	must(t, u.Pipe("1", "ann", at(0)))
	must(t, u.Pipe("2", "kid bob", at(1)))
	must(t, u.Pipe("1", "ann b", at(2)))
	must(t, u.Tombstone("1", at(3)))
	expect(t, readAll(t, streamtest.Output(d, "adults", serde.String, serde.String)), "1=ANN", "2=<nil>", "1=ANN B", "1=<nil>")
	users2 := streamtest.Store(d, "users", serde.String, serde.String)
	if _, ok, _ := users2.Get("1"); ok {
		t.Error("tombstone did not delete user 1 from the table's store")
	}
	if v, ok, _ := users2.Get("2"); !ok || v != "kid bob" {
		t.Errorf("user 2 = %q %v", v, ok)
	}
	e := streamtest.Input(d, "events", serde.String, serde.String)
	must(t, e.Pipe("a", "x", at(0)))
	must(t, e.Tombstone("a", at(1)))
	expect(t, readAll(t, streamtest.Output(d, "last", serde.String, serde.String)), "a=x", "a=<nil>")
}

// dedup is a Processor API processor: it forwards a key's first record,
// remembers keys in a store, and forgets them all on a punctuation.
type dedup struct {
	ctx   stream.ProcessorContext[string, string]
	ref   stream.StoreRef[string, int64]
	store *stream.KeyValueStore[string, int64]
}

func (p *dedup) Init(ctx stream.ProcessorContext[string, string]) (err error) {
	p.ctx = ctx
	p.store, err = p.ref.Open(ctx)
	if err != nil {
		return err
	}
	ctx.Schedule(10*time.Second, stream.StreamTime, func(ts time.Time) error {
		var keys []string
		p.store.All(func(k string, _ int64) bool { keys = append(keys, k); return true })
		for _, k := range keys {
			p.store.Delete(k)
		}
		return ctx.Forward(stream.Record[string, string]{Key: "purge", Value: fmt.Sprint(len(keys)), Timestamp: ts})
	})
	ctx.Schedule(time.Minute, stream.WallClockTime, func(ts time.Time) error {
		return ctx.Forward(stream.Record[string, string]{Key: "tick", Value: ts.UTC().Format("15:04"), Timestamp: ts})
	})
	return nil
}

func (p *dedup) Process(r stream.Record[string, string]) error {
	if _, seen, err := p.store.Get(r.Key); err != nil || seen {
		return err
	}
	topic, _, offset, _ := p.ctx.Origin()
	if err := p.store.Put(r.Key, offset); err != nil {
		return err
	}
	return p.ctx.Forward(stream.Record[string, string]{Key: r.Key, Value: r.Value + "@" + topic, Timestamp: r.Timestamp})
}

func (p *dedup) Close() error { return nil }

func TestProcessorAPIStoresAndPunctuations(t *testing.T) {
	b := stream.NewBuilder()
	ref := stream.AddKeyValueStore(b, "seen", serde.String, serde.Int64)
	in := stream.From(b, "in", serde.String, serde.String)
	out := stream.Process(in, func() stream.Processor[string, string, string, string] { return &dedup{ref: ref} }, []string{ref.Name})
	out.To("out")
	d := build(t, b, streamtest.WallClock(t0))
	in2 := streamtest.Input(d, "in", serde.String, serde.String)
	must(t, in2.Pipe("a", "1", at(0)))
	must(t, in2.Pipe("a", "2", at(5)))
	must(t, in2.Pipe("b", "3", at(9)))
	must(t, in2.Pipe("a", "4", at(10))) // stream time reaches 10 s: purge fires after this record
	must(t, in2.Pipe("a", "5", at(11)))
	must(t, d.AdvanceWallClock(time.Minute))
	expect(t, readAll(t, streamtest.Output(d, "out", serde.String, serde.String)),
		"a=1@in", "b=3@in", "purge=2", "a=5@in", "tick=12:01")
}

func TestStoreNotConnected(t *testing.T) {
	b := stream.NewBuilder()
	ref := stream.AddKeyValueStore(b, "seen", serde.String, serde.Int64)
	in := stream.From(b, "in", serde.String, serde.String)
	stream.Process(in, func() stream.Processor[string, string, string, string] { return &dedup{ref: ref} }, nil).To("out")
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), `not connected to store "seen"`) {
		t.Fatalf("want a not-connected error at build time, got %v", err)
	}

	b = stream.NewBuilder()
	in = stream.From(b, "in", serde.String, serde.String)
	stream.Process(in, func() stream.Processor[string, string, string, string] { return &dedup{ref: ref} }, []string{"nope"}).To("out")
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), `uses store "nope", which is not in the topology`) {
		t.Fatalf("want a build error for an unknown store, got %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	b := stream.NewBuilder()
	stream.From(b, "in", serde.String, serde.String)
	stream.From(b, "in", serde.String, serde.String)
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "read by two sources") {
		t.Fatalf("got %v", err)
	}
	if _, err := stream.NewBuilder().Build(); err == nil {
		t.Fatal("an empty topology built")
	}
	b = stream.NewBuilder()
	in := stream.From(b, "in", serde.String, serde.Int64)
	stream.GroupByKey(in).Reduce(func(a, v int64) int64 { return a + v }, stream.WithValueSerde(serde.String))
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "not a serde.Serde[int64]") {
		t.Fatalf("got %v", err)
	}
}

func TestBadRecords(t *testing.T) {
	topology := func() *stream.Builder {
		b := stream.NewBuilder()
		stream.From(b, "in", serde.String, serde.Int64).To("out")
		return b
	}
	for _, tc := range []struct {
		name   string
		policy stream.BadRecordPolicy
	}{{"skip", stream.LogAndSkip}, {"fail", stream.LogAndFail}, {"dead-letter", stream.DeadLetter("dlq")}} {
		t.Run(tc.name, func(t *testing.T) {
			d := build(t, topology(), streamtest.OnBadRecord(tc.policy))
			must(t, d.Pipe("in", []byte("k"), []byte{0, 0, 0, 0, 0, 0, 0, 7}, at(0)))
			err := d.Pipe("in", []byte("k"), []byte("not 8 bytes"), at(1))
			if tc.policy.Fail != (err != nil) {
				t.Fatalf("Pipe bad record: %v", err)
			}
			if d.Metrics()["deserialization-errors"] != 1 {
				t.Errorf("metrics %v", d.Metrics())
			}
			if tc.policy.Fail {
				if !strings.Contains(err.Error(), "in-0@1") || d.Pipe("in", []byte("k"), make([]byte, 8), at(2)) == nil {
					t.Fatalf("fail policy: %v, and later pipes must fail too", err)
				}
				return
			}
			must(t, d.Pipe("in", []byte("k"), []byte{0, 0, 0, 0, 0, 0, 0, 8}, at(2)))
			expect(t, readAll(t, streamtest.Output(d, "out", serde.String, serde.Int64)), "k=7", "k=8")
			dl := d.Messages("dlq")
			if tc.policy.DeadLetterTopic == "" {
				if len(dl) != 0 {
					t.Fatal("skip policy wrote dead letters")
				}
				return
			}
			if len(dl) != 1 || string(dl[0].Value) != "not 8 bytes" || len(dl[0].Headers) != 4 || dl[0].Headers[3].Key != "__streams.errors.offset" || string(dl[0].Headers[3].Value) != "1" {
				t.Fatalf("dead letters %+v", dl)
			}
		})
	}
}

func TestTombstonesSurviveMaps(t *testing.T) {
	b := stream.NewBuilder()
	users := stream.TableFrom(b, "users", serde.String, serde.String)
	changes := stream.ToStream(users)
	stream.MapValues(changes, strings.ToUpper).To("upper")
	stream.FlatMapValues(changes, strings.Fields).To("words")
	stream.Map(changes, func(k, v string) (string, string) { return "id-" + k, v + "!" }).To("mapped")
	d := build(t, b)
	in := streamtest.Input(d, "users", serde.String, serde.String)
	must(t, in.Pipe("1", "ann lee", at(0)))
	must(t, in.Tombstone("1", at(1)))
	expect(t, readAll(t, streamtest.Output(d, "upper", serde.String, serde.String)), "1=ANN LEE", "1=<nil>")
	expect(t, readAll(t, streamtest.Output(d, "words", serde.String, serde.String)), "1=ann", "1=lee", "1=<nil>")
	expect(t, readAll(t, streamtest.Output(d, "mapped", serde.String, serde.String)), "id-1=ann lee!", "id-1=<nil>")
}

func TestTimestampExtractorAndRepartition(t *testing.T) {
	type event struct {
		At   int64 // seconds after t0
		Page string
	}
	b := stream.NewBuilder()
	events := stream.From(b, "events", serde.String, serde.JSON[event](),
		stream.WithTimestamp(func(_ string, e event, _ time.Time) time.Time { return at(int(e.At)) }))
	byPage := stream.Repartition(stream.SelectKey(events, func(_ string, e event) string { return e.Page }), stream.Named("by-page"))
	stream.ToStream(stream.GroupByKey(byPage).WindowedBy(stream.Tumbling(time.Minute).Grace(time.Minute)).Count(stream.Named("per-minute"))).
		To("counts")
	d := build(t, b, streamtest.AppID("ts"))
	in := streamtest.Input(d, "events", serde.String, serde.JSON[event]())
	// The record timestamps say nothing; the extractor reads the event's.
	must(t, in.Pipe("u1", event{At: 10, Page: "/a"}, t0.Add(time.Hour)))
	must(t, in.Pipe("u2", event{At: 70, Page: "/a"}, t0))
	must(t, in.Pipe("u3", event{At: 20, Page: "/a"}, t0))
	if got := len(d.Messages("ts-by-page-repartition")); got != 3 {
		t.Fatalf("repartition topic holds %d records, want 3", got)
	}
	recs, err := streamtest.Output(d, "counts", stream.WindowedSerde(serde.String, time.Minute), serde.Int64).ReadAll()
	must(t, err)
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s@%ds=%d ts=%ds", r.Key.Key, r.Key.Window.Start.Sub(t0)/time.Second, r.Value, r.Timestamp.Sub(t0)/time.Second))
	}
	expect(t, got, "/a@0s=1 ts=10s", "/a@60s=1 ts=70s", "/a@0s=2 ts=20s")
	if st := d.StreamTime("events"); !st.Equal(at(70)) {
		t.Errorf("stream time %v, want the largest extracted timestamp", st)
	}
}
