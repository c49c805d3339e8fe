package main

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

var t0 = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// session prints an output record as "user [start-end] count", with
// times in seconds after t0, or "user [start-end] deleted".
func session(r stream.Record[stream.Windowed[string], int64]) string {
	w := r.Key.Window
	span := fmt.Sprintf("%s [%v-%v]", r.Key.Key, w.Start.Sub(t0).Seconds(), w.End.Sub(t0).Seconds())
	if r.Tombstone {
		return span + " deleted"
	}
	return fmt.Sprintf("%s %d", span, r.Value)
}

func TestSessions(t *testing.T) {
	topo, err := Topology()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streamtest.New(topo, streamtest.AppID("sessions"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := streamtest.Input(d, ClicksTopic, serde.String, serde.JSON[Click]())
	out := streamtest.Output(d, OutputTopic, OutputKeySerde, serde.Int64)
	step := func(user string, s int, want ...string) {
		t.Helper()
		if err := in.Pipe(user, Click{Page: "/"}, at(s)); err != nil {
			t.Fatal(err)
		}
		recs, err := out.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, session(r))
		}
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("click of %s at %ds: emitted %q, want %q", user, s, got, want)
		}
	}
	step("ann", 0, "ann [0-0] 1")
	step("ann", 10, "ann [0-0] deleted", "ann [0-10] 2")
	step("bob", 12, "bob [12-12] 1")
	step("ann", 40, "ann [0-10] deleted", "ann [0-40] 3") // 30 s after 10: still the same session
	step("ann", 71, "ann [71-71] 1")                      // 31 s: a new session
	step("ann", 55, "ann [0-40] deleted", "ann [71-71] deleted", "ann [0-71] 5")
	step("bob", 125, "bob [125-125] 1") // stream time 125 s
	step("bob", 20)                     // late: bob's session [12-12] closed at 12 + gap + grace = 52 s
	if got := d.Metrics()["dropped-records-late"]; got != 1 {
		t.Errorf("dropped-records-late = %d, want 1", got)
	}
	step("ann", 120, "ann [120-120] 1")

	latest, err := streamtest.Latest(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for k, n := range latest {
		got = append(got, session(stream.Record[stream.Windowed[string], int64]{Key: k, Value: n}))
	}
	slices.Sort(got)
	want := []string{"ann [0-71] 5", "ann [120-120] 1", "bob [12-12] 1", "bob [125-125] 1"}
	if !slices.Equal(got, want) {
		t.Errorf("sessions %q, want %q", got, want)
	}
}
