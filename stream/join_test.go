package stream_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
	"github.com/runnel-io/runnel/stream/streamtest"
)

// joinRead is readAll with each record's timestamp, in seconds from t0:
// "k=v@5".
func joinRead(t *testing.T, d *streamtest.Driver, topic string) []string {
	t.Helper()
	recs, err := streamtest.Output(d, topic, serde.String, serde.String).ReadAll()
	must(t, err)
	var got []string
	for _, r := range recs {
		v := r.Value
		if r.Tombstone {
			v = "<nil>"
		}
		got = append(got, fmt.Sprintf("%s=%s@%d", r.Key, v, r.Timestamp.Sub(t0)/time.Second))
	}
	return got
}

func joinOrNil(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

func TestStreamTableJoin(t *testing.T) {
	b := stream.NewBuilder()
	clicks := stream.From(b, "clicks", serde.String, serde.String)
	users := stream.TableFrom(b, "users", serde.String, serde.String, stream.Named("users"))
	stream.Join(clicks, users, func(c, u string) string { return c + "/" + u }, stream.Named("inner")).To("inner")
	stream.LeftJoin(clicks, users, func(c string, u *string) string { return c + "/" + joinOrNil(u) }).To("left")

	d := build(t, b)
	c := streamtest.Input(d, "clicks", serde.String, serde.String)
	u := streamtest.Input(d, "users", serde.String, serde.String)
	must(t, c.Pipe("1", "c1", at(1))) // no row yet
	must(t, u.Pipe("1", "ann", at(2)))
	must(t, u.Pipe("2", "bob", at(3)))
	must(t, c.Pipe("1", "c2", at(4)))
	must(t, u.Pipe("1", "ann b", at(5))) // a table update alone gives nothing
	must(t, c.Pipe("1", "c3", at(6)))
	must(t, u.Tombstone("1", at(7))) // a deleted row no longer joins
	must(t, c.Pipe("1", "c4", at(8)))
	must(t, c.Pipe("2", "c5", at(9)))
	must(t, c.PipeNullKey("c6", at(10)))
	must(t, c.Tombstone("2", at(11)))

	expect(t, joinRead(t, d, "inner"), "1=c2/ann@4", "1=c3/ann b@6", "2=c5/bob@9")
	expect(t, joinRead(t, d, "left"), "1=c1/-@1", "1=c2/ann@4", "1=c3/ann b@6", "1=c4/-@8", "2=c5/bob@9")
	if m := d.Metrics(); m["dropped-records-null-key"] != 2 || m["dropped-records-null-value"] != 2 {
		t.Errorf("metrics %v: want one null-key and one null-value drop per join", m)
	}
	topo, err := b.Build()
	must(t, err)
	if len(topo.Subs) != 1 {
		t.Errorf("the join and the table's store must be in one sub-topology:\n%s", topo.Describe())
	}
	if !strings.Contains(topo.Describe(), "Processor: inner (stores: [users])") {
		t.Errorf("Describe lacks the join's store:\n%s", topo.Describe())
	}
	if got := fmt.Sprint(topo.Copartitioned); got != "[[clicks users] [clicks users]]" {
		t.Errorf("Copartitioned = %s", got)
	}
}

func TestStreamTableJoinRepartitionsRekeyedStream(t *testing.T) {
	b := stream.NewBuilder()
	clicks := stream.From(b, "clicks", serde.String, serde.String)
	byUser := stream.SelectKey(clicks, func(_, v string) string { return strings.Split(v, ":")[0] })
	users := stream.TableFrom(b, "users", serde.String, serde.String, stream.Named("users"))
	stream.Join(byUser, users, func(c, u string) string { return c + "/" + u }, stream.Named("enrich")).To("out")

	topo, err := b.Build()
	must(t, err)
	desc := topo.Describe()
	if len(topo.Subs) != 2 || !strings.Contains(desc, "repartition: enrich-left-repartition") {
		t.Fatalf("want the join cut from the re-keyed stream by enrich-left-repartition:\n%s", desc)
	}
	if got := fmt.Sprint(topo.Copartitioned); got != "[[enrich-left-repartition users]]" {
		t.Errorf("Copartitioned = %s", got)
	}
	d, err := streamtest.New(topo, streamtest.AppID("app"))
	must(t, err)
	defer d.Close()
	must(t, streamtest.Input(d, "users", serde.String, serde.String).Pipe("ann", "Ann A.", at(0)))
	c := streamtest.Input(d, "clicks", serde.String, serde.String)
	must(t, c.Pipe("x", "ann:home", at(1)))
	must(t, c.Pipe("y", "bob:home", at(2)))
	expect(t, joinRead(t, d, "out"), "ann=ann:home/Ann A.@1")
	if n := len(d.Messages("app-enrich-left-repartition")); n != 2 {
		t.Errorf("repartition topic has %d records, want 2", n)
	}
}

func TestTableTableJoins(t *testing.T) {
	b := stream.NewBuilder()
	ta := stream.TableFrom(b, "a", serde.String, serde.String, stream.Named("a"))
	tb := stream.TableFrom(b, "b", serde.String, serde.String, stream.Named("b"))
	inner := stream.JoinTables(ta, tb, func(x, y string) string { return x + "/" + y }, stream.Named("inner"))
	left := stream.LeftJoinTables(ta, tb, func(x string, y *string) string { return x + "/" + joinOrNil(y) }, stream.Named("left"))
	outer := stream.OuterJoinTables(ta, tb, func(x, y *string) string { return joinOrNil(x) + "/" + joinOrNil(y) }, stream.Named("outer"))
	for name, tbl := range map[string]stream.Table[string, string]{"inner": inner, "left": left, "outer": outer} {
		stream.ToStream(tbl).To(name + "-out")
	}

	d := build(t, b)
	a := streamtest.Input(d, "a", serde.String, serde.String)
	bb := streamtest.Input(d, "b", serde.String, serde.String)
	must(t, a.Pipe("k", "A1", at(1)))
	must(t, bb.Pipe("k", "b1", at(2)))
	must(t, a.Pipe("k", "A2", at(3)))
	must(t, a.Tombstone("k", at(4)))  // every result with A goes
	must(t, bb.Tombstone("k", at(5))) // only outer still had a result
	must(t, bb.Pipe("j", "x", at(6))) // a key a never had
	must(t, a.Tombstone("z", at(7)))  // a key nobody had: no output at all
	must(t, a.Pipe("j", "J", at(8)))

	expect(t, joinRead(t, d, "inner-out"), "k=A1/b1@2", "k=A2/b1@3", "k=<nil>@4", "j=J/x@8")
	expect(t, joinRead(t, d, "left-out"), "k=A1/-@1", "k=A1/b1@2", "k=A2/b1@3", "k=<nil>@4", "j=J/x@8")
	expect(t, joinRead(t, d, "outer-out"), "k=A1/-@1", "k=A1/b1@2", "k=A2/b1@3", "k=-/b1@4", "k=<nil>@5", "j=-/x@6", "j=J/x@8")

	for name, want := range map[string]string{"inner": "map[j:J/x]", "left": "map[j:J/x]", "outer": "map[j:J/x]"} {
		got := map[string]string{}
		must(t, streamtest.Store(d, name, serde.String, serde.String).All(func(k, v string) bool { got[k] = v; return true }))
		if fmt.Sprint(got) != want {
			t.Errorf("result store %s = %v, want %s", name, got, want)
		}
	}
	topo, err := b.Build()
	must(t, err)
	if !strings.Contains(topo.Describe(), "Processor: outer (stores: [a, b, outer])") || !strings.Contains(topo.Describe(), "changelog: outer-changelog") {
		t.Errorf("Describe:\n%s", topo.Describe())
	}
}

// joinScript pipes the same records into a windowed join of l and r
// (window 10 s each way, grace 5 s) and returns the driver.
func joinScript(t *testing.T, kind string) *streamtest.Driver {
	b := stream.NewBuilder()
	l := stream.From(b, "l", serde.String, serde.String)
	r := stream.From(b, "r", serde.String, serde.String)
	w := stream.JoinWindow(10 * time.Second).Grace(5 * time.Second)
	named := stream.Named("j")
	var out stream.Stream[string, string]
	switch kind {
	case "inner":
		out = stream.JoinStreams(l, r, w, func(x, y string) string { return x + "+" + y }, named)
	case "left":
		out = stream.LeftJoinStreams(l, r, w, func(x string, y *string) string { return x + "+" + joinOrNil(y) }, named)
	case "outer":
		out = stream.OuterJoinStreams(l, r, w, func(x, y *string) string { return joinOrNil(x) + "+" + joinOrNil(y) }, named)
	}
	out.To("out")
	return build(t, b)
}

func TestStreamStreamJoins(t *testing.T) {
	for _, tc := range []struct {
		kind string
		// want: after the first part (up to stream time 40), after stream
		// time 60 (windows up to 55 closed), after 100, after 200.
		want [4][]string
	}{
		{"inner", [4][]string{{"a=a0+r5@5", "a=a0+r3@3", "b=b20+r30@30"}, {"c=c40+r50@50"}, nil, nil}},
		{"left", [4][]string{{"a=a0+r5@5", "a=a0+r3@3", "b=b20+r30@30"},
			{"e=e25+-@25", "c=c40+-@40"}, nil, {"z=z100+-@100"}}},
		{"outer", [4][]string{{"a=a0+r5@5", "a=a0+r3@3", "b=b20+r30@30"},
			{"e=e25+-@25", "b=-+r31@31", "c=c40+-@40"}, {"c=-+r50@50", "x=-+x60@60"}, {"z=z100+-@100"}}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			d := joinScript(t, tc.kind)
			l := streamtest.Input(d, "l", serde.String, serde.String)
			r := streamtest.Input(d, "r", serde.String, serde.String)
			must(t, l.Pipe("a", "a0", at(0)))
			must(t, r.Pipe("a", "r5", at(5)))
			must(t, r.Pipe("a", "r3", at(3)))   // out of order, within the window
			must(t, l.Pipe("b", "b20", at(20))) // no partner yet
			must(t, r.Pipe("b", "r31", at(31))) // just outside b20's window (11 s after)
			must(t, r.Pipe("b", "r30", at(30))) // out of order, on the window's edge: joins, b20 is no longer unjoined
			must(t, l.Pipe("c", "c40", at(40))) // stream time 40
			must(t, l.Pipe("d", "d24", at(24))) // late: its window closed at 24+10+5 = 39
			must(t, l.Pipe("e", "e25", at(25))) // within grace: closes at 40
			must(t, l.PipeNullKey("n", at(40))) // dropped
			must(t, r.Tombstone("c", at(40)))   // dropped
			expect(t, joinRead(t, d, "out"), tc.want[0]...)
			must(t, r.Pipe("x", "x60", at(60))) // closes e25 (40), r31 (46), c40 (55)
			must(t, l.Pipe("b", "b31", at(31))) // late: r31 found no partner in time
			// r50 is in time (closes at 65); c40's window closed, and in the
			// left and outer joins it gave its unjoined result: it joins no
			// more. The inner join still joins them, as Kafka Streams does.
			must(t, r.Pipe("c", "r50", at(50)))
			expect(t, joinRead(t, d, "out"), tc.want[1]...)
			must(t, l.Pipe("z", "z100", at(100))) // closes r50 (65), x60 (75)
			expect(t, joinRead(t, d, "out"), tc.want[2]...)
			must(t, r.Pipe("y", "y200", at(200))) // closes z100; nothing earlier again
			expect(t, joinRead(t, d, "out"), tc.want[3]...)

			m := d.Metrics()
			if m["dropped-records-late"] != 2 || m["dropped-records-null-key"] != 1 || m["dropped-records-null-value"] != 1 {
				t.Errorf("metrics %v", m)
			}
			// Buffers are expired: at stream time 200 (retention 25 s) only
			// y200 is left on the right, nothing on the left.
			if nl, nr := storeLen(t, d.Store("j-this-join-store")), storeLen(t, d.Store("j-other-join-store")); nl != 0 || nr != 1 {
				t.Errorf("buffers hold %d and %d records", nl, nr)
			}
			if tc.kind != "inner" {
				wantPending := map[string]int{"left": 0, "outer": 1}[tc.kind] // y200 in outer
				if n := storeLen(t, d.Store("j-outer-shared-join-store")); n != wantPending {
					t.Errorf("pending store holds %d records, want %d", n, wantPending)
				}
			}
		})
	}
}

func TestStreamStreamJoinAsymmetricWindowAndDuplicates(t *testing.T) {
	b := stream.NewBuilder()
	l := stream.From(b, "l", serde.String, serde.String)
	r := stream.From(b, "r", serde.String, serde.String)
	// r joins when 0..5 s after l; r's window ends at its own time, l's 5 s
	// after its time; both close 2 s later.
	w := stream.JoinWindow(0).After(5 * time.Second).Grace(2 * time.Second)
	stream.OuterJoinStreams(l, r, w, func(x, y *string) string { return joinOrNil(x) + "+" + joinOrNil(y) }).To("out")

	d := build(t, b)
	li := streamtest.Input(d, "l", serde.String, serde.String)
	ri := streamtest.Input(d, "r", serde.String, serde.String)
	must(t, li.Pipe("k", "l10", at(10)))
	must(t, li.Pipe("k", "l10b", at(10))) // a duplicate time: both are buffered
	must(t, ri.Pipe("k", "r8", at(8)))    // 2 s before l10: no join; closes at 8+0+2
	must(t, ri.Pipe("k", "r15", at(15)))  // closes r8; 5 s after l10: joins both
	must(t, ri.Pipe("k", "r16", at(16)))  // 6 s after: no join
	must(t, li.Pipe("k", "l11", at(11)))  // r15 and r16 are 4 and 5 s after it
	must(t, li.Pipe("k", "l20", at(20)))
	must(t, ri.Pipe("k", "r13", at(13))) // late: r's window closed at 13+0+2
	expect(t, joinRead(t, d, "out"), "k=-+r8@8", "k=l10+r15@15", "k=l10b+r15@15", "k=l11+r15@15", "k=l11+r16@16")
	must(t, li.Pipe("q", "q200", at(200)))
	expect(t, joinRead(t, d, "out"), "k=l20+-@20")
	if n := d.Metrics()["dropped-records-late"]; n != 1 {
		t.Errorf("%d late records, want 1", n)
	}
}

func TestLeftJoinStreamsEmitsWhenWindowCloses(t *testing.T) {
	b := stream.NewBuilder()
	l := stream.From(b, "l", serde.String, serde.String)
	r := stream.From(b, "r", serde.String, serde.String)
	w := stream.JoinWindow(10 * time.Second).Grace(5 * time.Second)
	stream.LeftJoinStreams(l, r, w, func(x string, y *string) string { return x + "+" + joinOrNil(y) }).To("out")

	d := build(t, b)
	li := streamtest.Input(d, "l", serde.String, serde.String)
	ri := streamtest.Input(d, "r", serde.String, serde.String)
	must(t, li.Pipe("i", "i-1", at(-1))) // closes at -1+10+5
	must(t, li.Pipe("k", "k0", at(0)))   // closes at 15
	must(t, li.Pipe("j", "j3", at(3)))   // closes at 18
	for _, step := range []struct {
		sec  int
		want []string
	}{
		{15, []string{"i=i-1+-@-1"}}, // k0 is still open: stream time is at its close
		{16, []string{"k=k0+-@0"}},
		{18, nil},
		{19, []string{"j=j3+-@3"}}, // no record was added since the last emission
		{100, nil},                 // once only
	} {
		must(t, ri.Pipe("other", "o", at(step.sec)))
		expect(t, joinRead(t, d, "out"), step.want...)
	}
}

func TestJoinCopartitioningAndDescribe(t *testing.T) {
	b := stream.NewBuilder()
	l := stream.From(b, "l", serde.String, serde.String)
	r := stream.Map(stream.From(b, "r", serde.String, serde.Int64), func(k string, v int64) (string, string) { return k + "!", fmt.Sprint(v) })
	joined := stream.OuterJoinStreams(l, r, stream.JoinWindow(time.Second), func(x, y *string) string { return joinOrNil(x) + joinOrNil(y) }, stream.Named("j"), stream.Partitions(4))
	t1 := stream.TableFrom(b, "t1", serde.String, serde.String)
	t2 := stream.TableFrom(b, "t2", serde.String, serde.String)
	stream.ToStream(stream.JoinTables(t1, t2, func(x, y string) string { return x + y })).To("tt")
	stream.LeftJoin(joined, t1, func(x string, y *string) string { return x + joinOrNil(y) }).To("out")

	topo, err := b.Build()
	must(t, err)
	got := fmt.Sprint(topo.Copartitioned)
	if got != "[[j-right-repartition l] [t1 t2] [j-right-repartition l t1]]" {
		t.Errorf("Copartitioned = %s", got)
	}
	desc := topo.Describe()
	for _, want := range []string{
		"Processor: j (stores: [j-this-join-store, j-other-join-store, j-outer-shared-join-store])",
		"Processor: j-this (stores: [])", "Processor: j-other (stores: [])",
		"repartition: j-right-repartition",
		"changelog: j-this-join-store-changelog", "changelog: j-outer-shared-join-store-changelog",
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe lacks %q:\n%s", want, desc)
		}
	}
	sink := topo.Node("j-right-repartition-sink")
	if sink == nil || sink.Partitions != 4 {
		t.Errorf("repartition sink %+v: want 4 partitions", sink)
	}
	def := topo.Stores["j-this-join-store"]
	if def == nil || def.Retention != 2*time.Second {
		t.Errorf("buffer store %+v: want retention before+after+grace = 2s", def)
	}
	if _, err := streamtest.New(topo); err != nil {
		t.Fatal(err)
	}

	b = stream.NewBuilder()
	l = stream.From(b, "l", serde.String, serde.String)
	stream.JoinStreams(l, stream.From(b, "r", serde.String, serde.String), stream.JoinWindow(-time.Second), func(x, y string) string { return x })
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "must not be negative") {
		t.Errorf("negative window: %v", err)
	}
}

func TestJoinWindowedTableIsABuildError(t *testing.T) {
	b := stream.NewBuilder()
	clicks := stream.From(b, "clicks", serde.String, serde.String)
	perMinute := stream.GroupByKey(clicks).WindowedBy(stream.Tumbling(time.Minute)).Count()
	other := stream.From(b, "other", serde.String, serde.String)
	stream.Join(stream.Map(other, func(k, v string) (stream.Windowed[string], string) {
		return stream.Windowed[string]{Key: k}, v
	}), perMinute, func(v string, n int64) string { return v })
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "is windowed") {
		t.Fatalf("joining a windowed table: %v", err)
	}
}
