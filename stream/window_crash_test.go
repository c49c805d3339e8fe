package stream_test

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// The tests in this file move a task the way an instance's death moves
// it under at-least-once: a first task processes records, commits (what
// it sent so far is acknowledged, then its commit callbacks run), and
// processes more records; it dies, and of what it sent after the commit
// only a prefix of its changelog records arrived (sends to one broker
// arrive in order), and either every output or only a prefix of them
// (the outputs go to other partitions than the changelogs: any of them
// can be lost while the changelog records after them arrived). A second
// task restores its stores from that changelog and processes the records
// again from the commit on. What both sent must agree with a run that
// never crashed: every result present, none that run lacks, and no
// window count lower than its true one; with outputs lost, every final
// count and every unjoined result still present.

// crashEnv is a task runtime that records everything a task sends, in
// order, and opens its stores from the changelog records of an earlier
// run (from).
type crashEnv struct {
	from    []crashMsg
	log     []crashMsg
	metrics engine.Metrics
}

type crashMsg struct {
	topic      string
	key, value []byte
	changelog  bool
}

func (e *crashEnv) Send(topic string, key, value []byte, _ int64, _ []engine.Header) error {
	e.log = append(e.log, crashMsg{topic: topic, key: clone(key), value: clone(value)})
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (e *crashEnv) Topic(name string, _ bool) string { return name }

func (e *crashEnv) OpenStore(def *engine.StoreDef, _ engine.TaskID) (state.KeyValue, error) {
	mem := state.NewMemory()
	changelog := def.ChangelogTopic()
	for _, m := range e.from {
		if m.topic != changelog {
			continue
		}
		var err error
		if m.value == nil {
			err = mem.Delete(m.key)
		} else {
			err = mem.Put(m.key, m.value)
		}
		if err != nil {
			return nil, err
		}
	}
	return state.Logged(mem, func(k, v []byte) error {
		e.log = append(e.log, crashMsg{topic: changelog, key: clone(k), value: clone(v), changelog: true})
		return nil
	}), nil
}

func (e *crashEnv) BadRecord(engine.TaskID, engine.Origin, []byte, []byte, error) error { return nil }
func (e *crashEnv) Logger() *slog.Logger                                                { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (e *crashEnv) Metrics() *engine.Metrics                                            { return &e.metrics }
func (e *crashEnv) Now() time.Time                                                      { return t0 }

// crashRec is an input record: topic, key, value, time in seconds.
type crashRec struct {
	topic, key, value string
	sec               int
}

// crashRun is one task's run: it restores from from, processes recs, and
// returns what it sent, and how much it had sent after each record
// (pos[i] after recs[:i]). With commit >= 0 the task commits after
// recs[:commit]: acked is how much it had sent then (all of it
// acknowledged), and pos[commit] counts what its commit callbacks sent.
func crashRun(t *testing.T, topo *stream.Topology, from []crashMsg, recs []crashRec, commit int) (log []crashMsg, pos []int, acked int) {
	t.Helper()
	env := &crashEnv{from: from}
	task, err := engine.NewTask(topo, engine.TaskID{}, env)
	must(t, err)
	for i := 0; ; i++ {
		if i == commit {
			acked = len(env.log)
			must(t, task.Committed())
		}
		pos = append(pos, len(env.log))
		if i == len(recs) {
			break
		}
		r := recs[i]
		must(t, task.Process(engine.Origin{Topic: r.topic, Offset: int64(i)}, []byte(r.key), []byte(r.value), at(r.sec).UnixMilli(), nil))
	}
	must(t, task.Close())
	return env.log, pos, acked
}

// crash is one way for the first task to die: the last commit after
// recs[:commit], death after recs[:died], the changelog records among
// its first cut sends arrived, and the outputs among its first outCut
// (all of them if outCut is where it died). first is what it sent
// (more than it sent before it died).
type crash struct {
	commit, died, cut, outCut int
	first                     []crashMsg
	deathPos                  int // len(first) when it died
}

func (c crash) String() string {
	lost := "no output lost"
	if c.outputsLost() {
		lost = fmt.Sprintf("outputs lost from send %d", c.outCut)
	}
	return fmt.Sprintf("commit after %d records, died after %d, changelog cut at send %d, %s", c.commit, c.died, c.cut, lost)
}

func (c crash) outputsLost() bool { return c.outCut < c.deathPos }

// clean is a clean restart: death right after the commit, changelog and
// outputs whole.
func (c crash) clean() bool { return c.commit == c.died && c.cut == c.deathPos && !c.outputsLost() }

// crashes runs the first task once per commit point, and returns every
// death point from it on, each with the changelog cut at the commit, at
// the death, and at one send between, and the outputs whole, cut at the
// commit, and cut at one send between (random but fixed, so the test is
// the same every run).
func crashes(t *testing.T, topo *stream.Topology, recs []crashRec) []crash {
	t.Helper()
	rnd := rand.New(rand.NewPCG(7, 7))
	var out []crash
	for c := 0; c <= len(recs); c++ {
		first, pos, acked := crashRun(t, topo, nil, recs, c)
		for d := c; d < len(pos); d++ {
			between := func() []int {
				cuts := []int{acked, pos[d], acked + rnd.IntN(pos[d]-acked+1)}
				slices.Sort(cuts)
				return slices.Compact(cuts)
			}
			for _, cut := range between() {
				for _, outCut := range between() {
					out = append(out, crash{commit: c, died: d, cut: cut, outCut: outCut, first: first, deathPos: pos[d]})
				}
			}
		}
	}
	return out
}

// afterCrash takes what the first task sent before its death, runs the
// second from its changelog to the end of recs, and returns the outputs
// of both to topic that arrived.
func afterCrash(t *testing.T, topo *stream.Topology, recs []crashRec, c crash, topic string) []crashMsg {
	t.Helper()
	var restored, arrived []crashMsg
	for i, m := range c.first[:c.deathPos] {
		switch {
		case m.changelog && i < c.cut:
			restored = append(restored, m)
		case !m.changelog && i < c.outCut:
			arrived = append(arrived, m)
		}
	}
	second, _, _ := crashRun(t, topo, restored, recs[c.commit:], -1)
	return outputs(append(arrived, second...), topic)
}

func outputs(log []crashMsg, topic string) []crashMsg {
	var out []crashMsg
	for _, m := range log {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// windowResult is a windowed count read from the output topic: the key
// and window, and the count (tombstone for a session merged away).
type windowResult struct {
	window    string
	count     int64
	tombstone bool
}

func readWindowed(t *testing.T, ks serde.Serde[stream.Windowed[string]], msgs []crashMsg) []windowResult {
	t.Helper()
	var out []windowResult
	for _, m := range msgs {
		w, err := ks.Decode(m.key)
		must(t, err)
		r := windowResult{window: fmt.Sprintf("%s@%d/%d", w.Key, w.Window.Start.Sub(t0)/time.Second, w.Window.End.Sub(t0)/time.Second), tombstone: m.value == nil}
		if !r.tombstone {
			r.count, err = serde.Int64.Decode(m.value)
			must(t, err)
		}
		out = append(out, r)
	}
	return out
}

// windowRecs are the records of the windowed tests: two keys, out of
// order, some within grace and some later than it (dropped), windows
// closing all along; the last record closes every window.
var windowRecs = []crashRec{
	{"in", "a", "x", 1}, {"in", "b", "x", 2}, {"in", "a", "x", 4}, {"in", "a", "x", 12},
	{"in", "b", "x", 9}, {"in", "a", "x", 15}, {"in", "b", "x", 16}, {"in", "a", "x", 3},
	{"in", "a", "x", 23}, {"in", "b", "x", 25}, {"in", "a", "x", 21}, {"in", "b", "x", 31},
	{"in", "a", "x", 33}, {"in", "a", "x", 40}, {"in", "b", "x", 41}, {"in", "a", "x", 44},
	{"in", "z", "x", 1000},
}

// TestWindowedCountsSurviveACrash: tumbling, hopping, sliding and
// session counts, emitted final or on update, after every crash point:
// every final count is at least the true one and no window is missing or
// made up, also when outputs sent after the commit were lost though the
// changelog records after them (the saved progress) arrived; on update,
// with every output arrived, each window's last count is at least its
// true one (a session merged away stays a tombstone). With no crash
// (death right after a commit, changelog and outputs whole) the outputs
// are exactly those of a run that never stopped: no final emitted twice.
func TestWindowedCountsSurviveACrash(t *testing.T) {
	windows := map[string]stream.TimeWindows{
		"tumbling": stream.Tumbling(10 * time.Second).Grace(2 * time.Second),
		"hopping":  stream.Hopping(10*time.Second, 5*time.Second).Grace(2 * time.Second),
		"sliding":  stream.Sliding(5 * time.Second).Grace(2 * time.Second),
	}
	for _, name := range []string{"tumbling", "hopping", "sliding", "sessions"} {
		for _, final := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s final=%v", name, final), func(t *testing.T) {
				b := stream.NewBuilder()
				g := stream.GroupByKey(stream.From(b, "in", serde.String, serde.String))
				var counts stream.Table[stream.Windowed[string], int64]
				ks := stream.SessionWindowedSerde(serde.String)
				if w, ok := windows[name]; ok {
					wg := g.WindowedBy(w)
					if final {
						wg = wg.EmitFinal()
					}
					counts, ks = wg.Count(stream.Named("counts")), stream.WindowedSerde(serde.String, 10*time.Second)
				} else {
					sg := g.SessionWindowedBy(stream.Sessions(5 * time.Second).Grace(2 * time.Second))
					if final {
						sg = sg.EmitFinal()
					}
					counts = sg.Count(stream.Named("counts"))
				}
				stream.ToStream(counts).To("out")
				topo, err := b.Build()
				must(t, err)
				checkWindowedCrashes(t, topo, ks, final)
			})
		}
	}
}

func checkWindowedCrashes(t *testing.T, topo *stream.Topology, ks serde.Serde[stream.Windowed[string]], final bool) {
	ref, pos, _ := crashRun(t, topo, nil, windowRecs, -1)
	want := readWindowed(t, ks, outputs(ref, "out"))
	if len(want) == 0 {
		t.Fatal("the run without a crash emitted nothing")
	}
	truth := lastPerWindow(want)
	closedEarly := false // some window's final was emitted before the last record
	for _, m := range outputs(ref[:pos[len(windowRecs)-1]], "out") {
		closedEarly = closedEarly || !final || m.value != nil
	}
	if !closedEarly {
		t.Fatal("no window closed before the last record: the crashes test nothing")
	}
	for _, c := range crashes(t, topo, windowRecs) {
		got := readWindowed(t, ks, afterCrash(t, topo, windowRecs, c, "out"))
		if c.clean() && !slices.Equal(got, want) {
			t.Fatalf("%s (a clean restart): got\n%v\nwant the outputs of a run without a restart\n%v", c, got, want)
		}
		if err := checkWindowed(got, truth, final); err != nil {
			t.Fatalf("%s: %v\ngot  %v\nwant %v", c, err, got, want)
		}
	}
}

func lastPerWindow(rs []windowResult) map[string]windowResult {
	last := map[string]windowResult{}
	for _, r := range rs {
		last[r.window] = r
	}
	return last
}

// checkWindowed checks the results of a crashed run against the truth
// (the last result per window of a run without a crash).
func checkWindowed(got []windowResult, truth map[string]windowResult, final bool) error {
	for _, r := range got {
		w, ok := truth[r.window]
		switch {
		case !ok:
			return fmt.Errorf("window %s is not in the run without a crash", r.window)
		case final && r.count < w.count:
			return fmt.Errorf("final count %d of %s is below the true %d", r.count, r.window, w.count)
		}
	}
	last := lastPerWindow(got)
	for window, w := range truth {
		r, ok := last[window]
		switch {
		case !ok:
			return fmt.Errorf("window %s (count %d) is missing", window, w.count)
		case r.tombstone != w.tombstone:
			return fmt.Errorf("window %s ends as %+v, want %+v", window, r, w)
		case r.count < w.count:
			return fmt.Errorf("window %s ends with count %d, below the true %d", window, r.count, w.count)
		}
	}
	return nil
}
