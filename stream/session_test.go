package stream_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
	"github.com/runnel-io/runnel/stream/streamtest"
)

// TestSessionWindows is the sessions example's aggregation: sessions per
// user, here with merges, out-of-order records and late ones.
func TestSessionWindows(t *testing.T) {
	b := stream.NewBuilder()
	in := stream.From(b, "clicks", serde.String, serde.String)
	sessions := stream.GroupByKey(in).SessionWindowedBy(stream.Sessions(10 * time.Second).Grace(30 * time.Second)).Count(stream.Named("sessions"))
	stream.ToStream(sessions).To("out")
	d := build(t, b)
	pipe := streamtest.Input(d, "clicks", serde.String, serde.String)
	out := streamtest.Output(d, "out", stream.SessionWindowedSerde(serde.String), serde.Int64)
	for _, s := range []int{0, 5, 20, 25} {
		must(t, pipe.Pipe("a", "x", at(s)))
	}
	expect(t, windowed(t, out, true),
		"a@0/0=1 ts=0", "a@0/0=<nil> ts=0", "a@0/5=2 ts=5",
		"a@20/20=1 ts=20", "a@20/20=<nil> ts=20", "a@20/25=2 ts=25")
	must(t, pipe.Pipe("a", "x", at(13))) // bridges [0,5] and [20,25]
	expect(t, windowed(t, out, true), "a@0/5=<nil> ts=5", "a@20/25=<nil> ts=25", "a@0/25=5 ts=25")
	must(t, pipe.Pipe("a", "x", at(24))) // inside a session: no tombstone
	must(t, pipe.Pipe("a", "x", at(55))) // more than gap after 25: a new session
	expect(t, windowed(t, out, true), "a@0/25=6 ts=25", "a@55/55=1 ts=55")

	must(t, pipe.Pipe("b", "x", at(100))) // close time 70: [55,55] closes (55+gap < 70)
	must(t, pipe.Pipe("a", "x", at(62)))  // late: its session [55,55] has closed
	must(t, pipe.Pipe("a", "x", at(30)))  // late: 30+gap < 70
	must(t, pipe.Pipe("a", "x", at(95)))
	expect(t, windowed(t, out, true), "b@100/100=1 ts=100", "a@95/95=1 ts=95")
	if m := d.Metrics(); m["dropped-records-late"] != 2 {
		t.Errorf("metrics %v", m)
	}
	latest, err := streamtest.Latest(out)
	must(t, err)
	var got []string
	for w, n := range latest {
		got = append(got, fmt.Sprintf("%s@%s/%s=%d", w.Key, sec(w.Window.Start), sec(w.Window.End), n))
	}
	if len(got) != 4 || latest[sessionKey("a", 0, 25)] != 6 || latest[sessionKey("a", 55, 55)] != 1 {
		t.Errorf("latest table %v", got)
	}
}

func sessionKey(k string, start, end int) stream.Windowed[string] {
	return stream.Windowed[string]{Key: k, Window: stream.Window{Start: at(start), End: at(end)}}
}

func TestSessionMergers(t *testing.T) {
	b := stream.NewBuilder()
	in := stream.From(b, "in", serde.String, serde.String)
	g := stream.GroupByKey(in).SessionWindowedBy(stream.Sessions(10 * time.Second).Grace(time.Minute))
	agg := stream.AggregateSessions(g, func() string { return "" },
		func(_, v, agg string) string { return agg + v },
		func(_, a, b string) string { return a + "|" + b })
	stream.ToStream(agg).To("agg")
	stream.ToStream(g.Reduce(func(a, v string) string { return a + v })).To("reduced")
	d := build(t, b)
	pipe := streamtest.Input(d, "in", serde.String, serde.String)
	must(t, pipe.Pipe("k", "p", at(0)))
	must(t, pipe.Pipe("k", "q", at(20)))
	must(t, pipe.Pipe("k", "r", at(10)))
	expect(t, windowed(t, streamtest.Output(d, "agg", stream.SessionWindowedSerde(serde.String), serde.String), false),
		"k@0/0=p", "k@20/20=q", "k@0/0=<nil>", "k@20/20=<nil>", "k@0/20=|p|qr")
	expect(t, windowed(t, streamtest.Output(d, "reduced", stream.SessionWindowedSerde(serde.String), serde.String), false),
		"k@0/0=p", "k@20/20=q", "k@0/0=<nil>", "k@20/20=<nil>", "k@0/20=pqr")
}

func TestEmitFinalSessions(t *testing.T) {
	b := stream.NewBuilder()
	in := stream.From(b, "clicks", serde.String, serde.String)
	g := stream.GroupByKey(in).SessionWindowedBy(stream.Sessions(10 * time.Second).Grace(5 * time.Second)).EmitFinal()
	stream.ToStream(g.Count()).To("out")
	d := build(t, b)
	pipe := streamtest.Input(d, "clicks", serde.String, serde.String)
	out := streamtest.Output(d, "out", stream.SessionWindowedSerde(serde.String), serde.Int64)
	must(t, pipe.Pipe("a", "x", at(0)))
	must(t, pipe.Pipe("a", "x", at(12))) // a second session
	must(t, pipe.Pipe("a", "x", at(6)))  // bridges them: neither is ever emitted
	must(t, pipe.Pipe("a", "x", at(26))) // close time 21: [0,12] is open until 27
	expect(t, windowed(t, out, true))
	must(t, pipe.Pipe("a", "x", at(28)))
	expect(t, windowed(t, out, true), "a@0/12=3 ts=12")
	must(t, pipe.Pipe("a", "x", at(11))) // late: its session has closed
	must(t, pipe.Pipe("b", "x", at(100)))
	expect(t, windowed(t, out, true), "a@26/28=2 ts=28")
	if m := d.Metrics(); m["dropped-records-late"] != 1 {
		t.Errorf("metrics %v", m)
	}
}
