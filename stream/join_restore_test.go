package stream_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// joinEnv runs a task as a runtime would after a move: every store is
// restored from the changelog records of an earlier run (from), and every
// change and output is recorded in topics.
type joinEnv struct {
	from, topics map[string][]joinMsg
	metrics      engine.Metrics
}

type joinMsg struct{ key, value []byte }

func (e *joinEnv) Send(topic string, key, value []byte, _ int64, _ []engine.Header) error {
	var v []byte
	if value != nil {
		v = append([]byte{}, value...)
	}
	e.topics[topic] = append(e.topics[topic], joinMsg{append([]byte(nil), key...), v})
	return nil
}

func (e *joinEnv) Topic(name string, internal bool) string {
	if internal {
		return "app-" + name
	}
	return name
}

func (e *joinEnv) OpenStore(def *engine.StoreDef, _ engine.TaskID) (state.KeyValue, error) {
	mem := state.NewMemory()
	changelog := e.Topic(def.ChangelogTopic(), true)
	for _, m := range e.from[changelog] {
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
	return state.Logged(mem, func(k, v []byte) error { return e.Send(changelog, k, v, -1, nil) }), nil
}

func (e *joinEnv) BadRecord(engine.TaskID, engine.Origin, []byte, []byte, error) error { return nil }
func (e *joinEnv) Logger() *slog.Logger                                                { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (e *joinEnv) Metrics() *engine.Metrics                                            { return &e.metrics }
func (e *joinEnv) Now() time.Time                                                      { return t0 }

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

	run := func(from map[string][]joinMsg, recs ...[4]string) *joinEnv {
		env := &joinEnv{from: from, topics: map[string][]joinMsg{}}
		task, err := engine.NewTask(topo, engine.TaskID{}, env)
		must(t, err)
		for i, rec := range recs {
			var sec int
			fmt.Sscan(rec[3], &sec)
			must(t, task.Process(engine.Origin{Topic: rec[0], Offset: int64(i)}, []byte(rec[1]), []byte(rec[2]), at(sec).UnixMilli(), nil))
		}
		must(t, task.Close())
		return env
	}
	out := func(env *joinEnv) []string {
		var got []string
		for _, m := range env.topics["out"] {
			got = append(got, string(m.key)+"="+string(m.value))
		}
		return got
	}
	first := run(nil,
		[4]string{"l", "k", "k0", "0"}, [4]string{"r", "j", "j3", "3"}, [4]string{"l", "d", "d1", "1"},
		[4]string{"r", "k", "rk4", "4"}, // joins k0; buffered last
	)
	expect(t, out(first), "k=k0+rk4")
	// Restored, the pending store's first close time is known: a record
	// at 100 closes d1 and j3's windows.
	expect(t, out(run(first.topics, [4]string{"r", "x", "x100", "100"})), "d=d1+-", "j=-+j3")
	// A record with the key and time of one buffered before the restart
	// is buffered next to it, not over it.
	expect(t, out(run(first.topics, [4]string{"r", "k", "rk4b", "4"}, [4]string{"l", "k", "k6", "6"})),
		"k=k0+rk4b", "k=k6+rk4", "k=k6+rk4b")
}
