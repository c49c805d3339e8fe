package stream_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
)

// joinRecs are the records of the join crash tests: pairs that join,
// records that find no partner (left and right), a partner too far away,
// one later than grace (dropped), windows closing all along.
var joinRecs = []crashRec{
	{"l", "k1", "L1", 1}, {"r", "k1", "R1", 3}, {"l", "k2", "L2", 2}, {"r", "k3", "R3", 4},
	{"l", "k1", "L1b", 8}, {"r", "k2", "R2", 12}, {"l", "k4", "L4", 14}, {"r", "k4", "R4", 15},
	{"l", "k5", "L5", 20}, {"r", "k2", "R2b", 3}, {"r", "k5", "R5", 30}, {"l", "k1", "L1c", 28},
	{"r", "k1", "R1c", 27}, {"l", "k6", "L6", 40}, {"r", "k6", "R6", 44},
	{"r", "zz", "Z", 1000}, {"l", "zz", "Z", 1000},
}

// TestStreamJoinsSurviveACrash: inner, left and outer stream-stream
// joins after every crash point (see window_crash_test.go) give every
// result of a run without a crash, joined or unjoined, and no other (a
// record joined before the crash gives no unjoined result after it); a
// clean restart gives exactly the outputs of a run that never stopped.
// When outputs sent after the commit were lost, every unjoined result
// still comes (joined ones may not yet: a record processed again is late
// for the stream time restored from the stores, and does not join).
func TestStreamJoinsSurviveACrash(t *testing.T) {
	for _, kind := range []string{"inner", "left", "outer"} {
		t.Run(kind, func(t *testing.T) {
			b := stream.NewBuilder()
			l := stream.From(b, "l", serde.String, serde.String)
			r := stream.From(b, "r", serde.String, serde.String)
			w := stream.JoinWindow(5 * time.Second).Grace(time.Second)
			opts := []stream.Option{stream.Named("j"), stream.WithValueSerde(serde.String)}
			var out stream.Stream[string, string]
			switch kind {
			case "inner":
				out = stream.JoinStreams(l, r, w, func(x, y string) string { return x + "+" + y }, opts...)
			case "left":
				out = stream.LeftJoinStreams(l, r, w, func(x string, y *string) string { return x + "+" + joinOrNil(y) }, opts...)
			default:
				out = stream.OuterJoinStreams(l, r, w, func(x, y *string) string { return joinOrNil(x) + "+" + joinOrNil(y) }, opts...)
			}
			out.To("out")
			topo, err := b.Build()
			must(t, err)
			checkJoinCrashes(t, topo, kind)
		})
	}
}

func checkJoinCrashes(t *testing.T, topo *stream.Topology, kind string) {
	ref, _, _ := crashRun(t, topo, nil, joinRecs, -1)
	want := joinResults(outputs(ref, "out"))
	truth := map[string]bool{}
	for _, r := range want {
		truth[r] = true
	}
	unjoined := map[string]bool{"inner": !truth["k2=L2+-"], "left": truth["k2=L2+-"], "outer": truth["k2=L2+-"] && truth["k3=-+R3"]}
	if !truth["k1=L1+R1"] || !unjoined[kind] {
		t.Fatalf("the run without a crash has not the expected results: %v", want)
	}
	for _, c := range crashes(t, topo, joinRecs) {
		got := joinResults(afterCrash(t, topo, joinRecs, c, "out"))
		if c.clean() && !slices.Equal(got, want) {
			t.Fatalf("%s (a clean restart): got\n%v\nwant the outputs of a run without a restart\n%v", c, got, want)
		}
		seen := map[string]bool{}
		for _, r := range got {
			if !truth[r] {
				t.Fatalf("%s: result %s is not in the run without a crash\ngot  %v\nwant %v", c, r, got, want)
			}
			seen[r] = true
		}
		if !maps.Equal(seen, truth) {
			t.Fatalf("%s: results missing\ngot  %v\nwant %v", c, got, want)
		}
	}
}

func joinResults(msgs []crashMsg) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%s=%s", m.key, m.value))
	}
	return out
}
