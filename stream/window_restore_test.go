package stream

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream/internal/engine"
	"github.com/runnel-io/runnel/stream/serde"
)

// restoreEnv is a task runtime that keeps what was sent and hands a task
// the stores given to it: a store copied from an earlier task's is what a
// restore from the changelog produces.
type restoreEnv struct {
	stores  map[string]*state.Memory
	sent    []string
	metrics engine.Metrics
}

func (e *restoreEnv) Send(topic string, key, value []byte, ts int64, _ []engine.Header) error {
	w, err := WindowedSerde(serde.String, time.Minute).Decode(key)
	if err != nil {
		return err
	}
	e.sent = append(e.sent, fmt.Sprintf("%s %s@%d=%d", topic, w.Key, w.Window.Start.Unix(), binary.BigEndian.Uint64(value)))
	return nil
}

func (e *restoreEnv) Topic(name string, _ bool) string { return name }

func (e *restoreEnv) OpenStore(def *engine.StoreDef, _ engine.TaskID) (state.KeyValue, error) {
	if e.stores[def.Name] == nil {
		e.stores[def.Name] = state.NewMemory()
	}
	return e.stores[def.Name], nil
}

func (e *restoreEnv) BadRecord(_ engine.TaskID, _ engine.Origin, _, _ []byte, err error) error {
	return err
}
func (e *restoreEnv) Logger() *slog.Logger     { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (e *restoreEnv) Metrics() *engine.Metrics { return &e.metrics }
func (e *restoreEnv) Now() time.Time           { return time.UnixMilli(0) }

func copyStore(t *testing.T, kv *state.Memory) *state.Memory {
	t.Helper()
	cp := state.NewMemory()
	if err := kv.Range(nil, nil, func(k, v []byte) bool { return cp.Put(k, v) == nil }); err != nil {
		t.Fatal(err)
	}
	return cp
}

// TestEmitFinalAfterRestore: a task that starts on a restored store
// emits the windows in it when they close, though it never saw their
// records (the open windows are rebuilt from the store in Init).
func TestEmitFinalAfterRestore(t *testing.T) {
	b := NewBuilder()
	in := From(b, "in", serde.String, serde.String)
	ToStream(GroupByKey(in).WindowedBy(Tumbling(time.Minute)).EmitFinal().Count(Named("w"))).To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	process := func(task *engine.Task, key string, sec int64) {
		t.Helper()
		if err := task.Process(engine.Origin{Topic: "in"}, []byte(key), []byte("x"), sec*1000, nil); err != nil {
			t.Fatal(err)
		}
	}
	env1 := &restoreEnv{stores: map[string]*state.Memory{}}
	task1, err := engine.NewTask(topo, engine.TaskID{}, env1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		key string
		sec int64
	}{{"a", 0}, {"a", 10}, {"a", 50}, {"b", 65}, {"a", 70}, {"a", 80}} {
		process(task1, r.key, r.sec)
	}
	if want := []string{"out a@0=3"}; !slices.Equal(env1.sent, want) {
		t.Fatalf("first task sent %q, want %q", env1.sent, want)
	}
	if err := task1.Committed(); err != nil { // a@0 is acknowledged: not emitted again
		t.Fatal(err)
	}
	env2 := &restoreEnv{stores: map[string]*state.Memory{"w": copyStore(t, env1.stores["w"])}}
	task1.Close()
	task2, err := engine.NewTask(topo, engine.TaskID{}, env2)
	if err != nil {
		t.Fatal(err)
	}
	defer task2.Close()
	process(task2, "c", 125)
	if want := []string{"out a@60=2", "out b@60=1"}; !slices.Equal(env2.sent, want) {
		t.Fatalf("restored task sent %q, want %q", env2.sent, want)
	}
}
