package stream_test

import (
	"testing"
	"time"

	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
)

// TestStreamStreamJoinRestoredFromChangelogs: a task that restarts on
// restored stores emits the unjoined results of records buffered before
// the restart when their windows close, and keeps buffered duplicates
// (same key and time) apart from new ones.
func TestStreamStreamJoinRestoredFromChangelogs(t *testing.T) {
	b := stream.NewBuilder()
	l := stream.From(b, "l", serde.String, serde.String)
	r := stream.From(b, "r", serde.String, serde.String)
	w := stream.JoinWindow(10 * time.Second).Grace(5 * time.Second)
	stream.OuterJoinStreams(l, r, w, func(x, y *string) string { return joinOrNil(x) + "+" + joinOrNil(y) }).To("out")
	topo, err := b.Build()
	must(t, err)

	run := func(from []crashMsg, recs ...crashRec) []crashMsg {
		log, _, _ := crashRun(t, topo, from, recs, -1)
		return log
	}
	out := func(log []crashMsg) []string {
		var got []string
		for _, m := range outputs(log, "out") {
			got = append(got, string(m.key)+"="+string(m.value))
		}
		return got
	}
	first := run(nil,
		crashRec{"l", "k", "k0", 0}, crashRec{"r", "j", "j3", 3}, crashRec{"l", "d", "d1", 1},
		crashRec{"r", "k", "rk4", 4}, // joins k0; buffered last
	)
	expect(t, out(first), "k=k0+rk4")
	// Restored, the pending store's first close time is known: a record
	// at 100 closes d1 and j3's windows.
	expect(t, out(run(first, crashRec{"r", "x", "x100", 100})), "d=d1+-", "j=-+j3")
	// A record with the key and time of one buffered before the restart
	// is buffered next to it, not over it.
	expect(t, out(run(first, crashRec{"r", "k", "rk4b", 4}, crashRec{"l", "k", "k6", 6})),
		"k=k0+rk4b", "k=k6+rk4", "k=k6+rk4b")
}
