package stream

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/cluster"
	"github.com/runnel-io/runnel/cluster/clustertest"
	"github.com/runnel-io/runnel/stream/serde"
)

// These tests run the runtime against a real runnel broker in-process on
// loopback, fed and read by franz-go clients.

const (
	testSession   = 1500 * time.Millisecond
	testHeartbeat = 100 * time.Millisecond
	testWait      = 15 * time.Second // bound on every wait for a condition
)

func testLogger(t *testing.T, name string) *slog.Logger {
	return clustertest.Logger(t, name, slog.LevelInfo)
}

// startBroker starts a broker on 127.0.0.1:0 for one test, with short
// group timings and no auto-created topics, and returns its address.
func startBroker(t *testing.T) string {
	t.Helper()
	b := clustertest.Start(t, func(cfg *cluster.Config) { cfg.AutoCreateTopics = false })
	return b.Addr().String()
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	if _, err := adm.CreateTopic(testCtx(t), partitions, 1, configs, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// produce writes records synchronously, keys hashed as Kafka does.
func produce(t *testing.T, addr string, recs ...*kgo.Record) {
	t.Helper()
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// lines makes one record per line, keyed so they spread over partitions.
func lines(topic string, ls ...string) []*kgo.Record {
	var recs []*kgo.Record
	for i, l := range ls {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: []byte(l)})
	}
	return recs
}

// wordCounts counts words as the topology should.
func wordCounts(ls ...string) map[string]int64 {
	want := map[string]int64{}
	for _, l := range ls {
		for _, w := range strings.Fields(l) {
			want[w]++
		}
	}
	return want
}

func wordCountTopology(t *testing.T, opts ...Option) *Topology {
	t.Helper()
	b := NewBuilder()
	ls := From(b, "lines", serde.String, serde.String)
	words := FlatMapValues(ls, strings.Fields)
	counts := GroupBy(words, func(_, w string) string { return w }).Count(append([]Option{Named("counts")}, opts...)...)
	ToStream(counts).To("word-counts")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// latest reads a topic from the start to its end offsets (as of the
// call), keeping the last value per key.
func latest[V any](t *testing.T, addr, topic string, vs serde.Serde[V]) map[string]V {
	t.Helper()
	ends, err := kadm.NewClient(newClient(t, addr)).ListEndOffsets(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	todo := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			todo[o.Partition] = o.Offset
			from[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	out := map[string]V{}
	if len(todo) == 0 {
		return out
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))
	ctx, cancel := context.WithTimeout(testCtx(t), testWait)
	defer cancel()
	for len(todo) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: not read to its end", topic)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := todo[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset+1 >= end {
				delete(todo, r.Partition)
			}
			v, err := vs.Decode(r.Value)
			if err != nil {
				t.Fatalf("%s: decode %q: %v", topic, r.Value, err)
			}
			out[string(r.Key)] = v
		})
	}
	return out
}

// waitFor polls cond until it holds, or fails the test after testWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitCounts(t *testing.T, addr string, want map[string]int64) {
	t.Helper()
	var got map[string]int64
	deadline := time.Now().Add(testWait)
	for {
		got = latest(t, addr, "word-counts", serde.Int64)
		if maps.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("word counts:\ngot  %v\nwant %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// instance is an App running in the test.
type instance struct {
	*App
	name   string
	cancel context.CancelFunc
	done   chan error
	events *eventLog
	once   sync.Once
}

// eventLog records an instance's task events.
type eventLog struct {
	mu     sync.Mutex
	events []TaskEvent
}

func (l *eventLog) add(e TaskEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) since(n int) []TaskEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events[n:])
}

func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

func testAppOptions(addr string) []AppOption {
	return []AppOption{
		Brokers(addr), AppID("wc"), CommitInterval(200 * time.Millisecond),
		ClientOptions(kgo.SessionTimeout(testSession), kgo.HeartbeatInterval(testHeartbeat),
			kgo.RebalanceTimeout(5*time.Second), kgo.FetchMaxWait(200*time.Millisecond)),
	}
}

// start runs an App until the test ends (or stop), and waits until Ready.
func start(t *testing.T, name string, topo *Topology, opts ...AppOption) *instance {
	t.Helper()
	events := &eventLog{}
	opts = append(opts, Logger(testLogger(t, name)), OnTaskEvent(events.add))
	app, err := New(topo, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{App: app, name: name, cancel: cancel, done: make(chan error, 1), events: events}
	go func() { in.done <- app.Run(ctx) }()
	t.Cleanup(func() { in.stop(t) })
	select {
	case <-app.Ready():
	case err := <-in.done:
		in.done <- err
		t.Fatalf("%s: Run: %v", name, err)
	case <-time.After(testWait):
		t.Fatalf("%s: not ready", name)
	}
	return in
}

// stop cancels the instance and waits for Run to return nil (once).
func (in *instance) stop(t *testing.T) {
	in.once.Do(func() {
		in.cancel()
		select {
		case err := <-in.done:
			if err != nil {
				t.Errorf("%s: Run: %v", in.name, err)
			}
		case <-time.After(testWait):
			t.Errorf("%s: Run did not return after cancel", in.name)
		}
	})
}

func runErr(t *testing.T, topo *Topology, opts ...AppOption) error {
	t.Helper()
	app, err := New(topo, append(opts, Logger(testLogger(t, "app")))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	err = app.Run(ctx)
	if err == nil {
		t.Fatal("Run returned nil, want an error")
	}
	return err
}

func TestWordCountEndToEnd(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "lines", 3, nil)
	createTopic(t, addr, "word-counts", 3, nil)
	text := []string{"the quick brown fox", "jumps over the lazy dog", "the dog sleeps", "a fox a dog a cat"}
	produce(t, addr, lines("lines", text...)...)
	app := start(t, "a", wordCountTopology(t), append(testAppOptions(addr), Threads(2))...)
	waitCounts(t, addr, wordCounts(text...))

	more := []string{"the end", "fox and dog"}
	produce(t, addr, lines("lines", more...)...)
	waitCounts(t, addr, wordCounts(append(text, more...)...))

	if got := app.Tasks(); len(got) != 6 {
		t.Errorf("tasks %v, want 6 (2 sub-topologies x 3 partitions)", got)
	}
	// The first commit comes one commit interval after the first records
	// were processed: on a loaded machine the counts may be complete
	// before it.
	deadline := time.Now().Add(testWait)
	for app.Metrics()["commits"] == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	m := app.Metrics()
	words := int64(len(strings.Fields(strings.Join(append(text, more...), " "))))
	if got, want := m["processed-records"], int64(len(text)+len(more))+words; got != want {
		t.Errorf("processed-records %d, want %d (lines + repartitioned words)", got, want)
	}
	if m["commits"] == 0 || m["tasks"] != 6 {
		t.Errorf("metrics %v: want commits > 0 and tasks 6", m)
	}
}

// tasksOf returns the union of the instances' tasks, failing on overlap.
func tasksOf(t *testing.T, ins ...*instance) int {
	t.Helper()
	seen := map[TaskID]string{}
	for _, in := range ins {
		for _, id := range in.Tasks() {
			if other, dup := seen[id]; dup {
				t.Fatalf("task %s on %s and %s", id, other, in.name)
			}
			seen[id] = in.name
		}
	}
	return len(seen)
}

func balanced(ins []*instance, total, each int) func() bool {
	return func() bool {
		n := 0
		for _, in := range ins {
			k := len(in.Tasks())
			if k < each || k > each+1 {
				return false
			}
			n += k
		}
		return n == total
	}
}

func TestTwoInstancesShareTasks(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "lines", 4, nil)
	createTopic(t, addr, "word-counts", 4, nil)
	topo := wordCountTopology(t)
	a := start(t, "a", topo, testAppOptions(addr)...)
	b := start(t, "b", topo, testAppOptions(addr)...)
	waitFor(t, "both instances to hold 4 of the 8 tasks", balanced([]*instance{a, b}, 8, 4))
	tasksOf(t, a, b)

	var text []string
	for i := range 40 {
		text = append(text, fmt.Sprintf("w%d w%d shared", i%7, i%3))
	}
	produce(t, addr, lines("lines", text...)...)
	waitCounts(t, addr, wordCounts(text...))
	if a.Metrics()["processed-records"] == 0 || b.Metrics()["processed-records"] == 0 {
		t.Errorf("an instance processed nothing: a %v, b %v", a.Metrics(), b.Metrics())
	}
}

// An instance that stops hands its tasks to the other, which restores
// the counts from the changelog and continues them.
func TestStoppedInstanceHandsOver(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "lines", 2, nil)
	createTopic(t, addr, "word-counts", 2, nil)
	topo := wordCountTopology(t)
	a := start(t, "a", topo, testAppOptions(addr)...)
	b := start(t, "b", topo, testAppOptions(addr)...)
	waitFor(t, "a and b to share 4 tasks", balanced([]*instance{a, b}, 4, 2))

	var text []string
	for i := range 30 {
		text = append(text, fmt.Sprintf("x%d y%d", i%5, i%4))
	}
	produce(t, addr, lines("lines", text[:15]...)...)
	waitCounts(t, addr, wordCounts(text[:15]...))

	a.stop(t)
	waitFor(t, "b to hold every task", func() bool { return len(b.Tasks()) == 4 })
	if b.Metrics()["restored-records"] == 0 {
		t.Errorf("b restored nothing from the changelog: %v", b.Metrics())
	}
	produce(t, addr, lines("lines", text[15:]...)...)
	waitCounts(t, addr, wordCounts(text...))
}

// A third instance joins two: tasks move cooperatively. The others'
// revocations are exactly the tasks that moved to the newcomer; the rest
// keep running, and the counts stay exact.
func TestThirdInstanceMovesTasksCooperatively(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "lines", 6, nil)
	createTopic(t, addr, "word-counts", 6, nil)
	topo := wordCountTopology(t)
	a := start(t, "a", topo, testAppOptions(addr)...)
	b := start(t, "b", topo, testAppOptions(addr)...)
	waitFor(t, "a and b to share 12 tasks", balanced([]*instance{a, b}, 12, 6))

	var text []string
	for i := range 60 {
		text = append(text, fmt.Sprintf("p%d q%d", i%9, i%5))
	}
	produce(t, addr, lines("lines", text[:30]...)...)
	waitCounts(t, addr, wordCounts(text[:30]...))

	beforeA, beforeB := a.Tasks(), b.Tasks()
	markA, markB := a.events.len(), b.events.len()
	c := start(t, "c", topo, testAppOptions(addr)...)
	all := []*instance{a, b, c}
	waitFor(t, "a, b and c to hold 4 tasks each", balanced(all, 12, 4))
	tasksOf(t, all...)

	for _, x := range []struct {
		in     *instance
		before []TaskID
		mark   int
	}{{a, beforeA, markA}, {b, beforeB, markB}} {
		var revoked, moved []TaskID
		for _, e := range x.in.events.since(x.mark) {
			if e.Kind != TasksRevoked {
				t.Errorf("%s: unexpected event %v %v", x.in.name, e.Kind, e.Tasks)
			}
			revoked = append(revoked, e.Tasks...)
		}
		for _, id := range x.before {
			if !slices.Contains(x.in.Tasks(), id) {
				moved = append(moved, id)
			}
		}
		slices.SortFunc(revoked, compareTasks)
		if !slices.Equal(revoked, moved) {
			t.Errorf("%s revoked %v, but only %v moved", x.in.name, revoked, moved)
		}
	}
	if c.Metrics()["restored-records"] == 0 {
		t.Errorf("c restored nothing: %v", c.Metrics())
	}
	produce(t, addr, lines("lines", text[30:]...)...)
	waitCounts(t, addr, wordCounts(text...))
}

func TestMissingSourceTopic(t *testing.T) {
	addr := startBroker(t)
	err := runErr(t, wordCountTopology(t), testAppOptions(addr)...)
	if !strings.Contains(err.Error(), `source topic "lines" does not exist`) {
		t.Fatalf("error %q does not name the missing topic", err)
	}
}

func TestCopartitionMismatch(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "left", 2, nil)
	createTopic(t, addr, "right", 3, nil)
	b := NewBuilder()
	l := From(b, "left", serde.String, serde.String)
	r := From(b, "right", serde.String, serde.String)
	Merge(l, r).To("out")
	b.g.Copartition(l.n, r.n) // as a join does
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	err = runErr(t, topo, testAppOptions(addr)...)
	for _, want := range []string{"left (2 partitions)", "right (3 partitions)"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
	}
}

func topicConfig(t *testing.T, adm *kadm.Client, topic, key string) string {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	t.Fatalf("%s has no config %s", topic, key)
	return ""
}

// Internal topics: the repartition topic gets the upstream sub-topology's
// partition count (or the one asked for), changelogs one partition per
// task and cleanup.policy=compact (compact,delete with a retention).
func TestInternalTopicsCreated(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "lines", 3, nil)
	createTopic(t, addr, "word-counts", 3, nil)
	b := NewBuilder()
	ls := From(b, "lines", serde.String, serde.String)
	words := FlatMapValues(ls, strings.Fields)
	GroupBy(words, func(_, w string) string { return w }).Count(Named("counts"))
	GroupBy(words, func(_, w string) string { return w }).Count(Named("wide"), Partitions(5))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	topo.Stores["wide"].Retention = time.Hour // as a window store sets it
	start(t, "a", topo, testAppOptions(addr)...)

	adm := kadm.NewClient(newClient(t, addr))
	details, err := adm.ListTopics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]int{
		"wc-counts-repartition": 3, "wc-counts-changelog": 3,
		"wc-wide-repartition": 5, "wc-wide-changelog": 5,
	} {
		if got := len(details[topic].Partitions); got != want {
			t.Errorf("%s: %d partitions, want %d", topic, got, want)
		}
	}
	if got := topicConfig(t, adm, "wc-counts-changelog", "cleanup.policy"); got != "compact" {
		t.Errorf("wc-counts-changelog cleanup.policy %q", got)
	}
	if got := topicConfig(t, adm, "wc-wide-changelog", "cleanup.policy"); got != "compact,delete" {
		t.Errorf("wc-wide-changelog cleanup.policy %q", got)
	}
	if got := topicConfig(t, adm, "wc-wide-changelog", "retention.ms"); got != "90000000" { // the store's hour + a day
		t.Errorf("wc-wide-changelog retention.ms %q", got)
	}
}

func TestInternalTopicWrongPartitions(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "lines", 3, nil)
	createTopic(t, addr, "wc-counts-changelog", 1, nil)
	err := runErr(t, wordCountTopology(t), testAppOptions(addr)...)
	if !strings.Contains(err.Error(), `internal topic "wc-counts-changelog" has 1 partitions, the topology needs 3`) {
		t.Fatalf("error %q", err)
	}
}

// Embedded mode: the app starts its own broker; nothing else runs.
func TestEmbeddedWordCount(t *testing.T) {
	// A port that was free a moment ago: EmbeddedListen must use it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	app, err := New(wordCountTopology(t), AppID("wc"), Embedded(t.TempDir()), EmbeddedListen(listen),
		CommitInterval(200*time.Millisecond), Logger(testLogger(t, "embedded")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-app.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	addr := app.Brokers()[0]
	if addr != listen {
		t.Errorf("embedded broker at %s, want %s (EmbeddedListen)", addr, listen)
	}
	text := []string{"embedded runs alone", "alone and embedded"}
	produce(t, addr, lines("lines", text...)...)
	waitCounts(t, addr, wordCounts(text...))
}

// Records that do not deserialize go to the dead-letter topic with
// headers saying why; the others are processed.
func TestBadRecordsToDeadLetter(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "nums", 2, nil)
	createTopic(t, addr, "doubled", 2, nil)
	createTopic(t, addr, "dlq", 1, nil)
	b := NewBuilder()
	nums := From(b, "nums", serde.String, serde.Int64)
	MapValues(nums, func(n int64) int64 { return 2 * n }).To("doubled")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	good := func(k string, n int64) *kgo.Record {
		v, _ := serde.Int64.Encode(n)
		return &kgo.Record{Topic: "nums", Key: []byte(k), Value: v}
	}
	produce(t, addr, good("a", 1), &kgo.Record{Topic: "nums", Key: []byte("bad"), Value: []byte("xyz")}, good("b", 21))
	app := start(t, "a", topo, append(testAppOptions(addr), OnBadRecord(DeadLetter("dlq")))...)

	waitFor(t, "the good records", func() bool {
		got := latest(t, addr, "doubled", serde.Int64)
		return got["a"] == 2 && got["b"] == 42
	})
	cl := newClient(t, addr, kgo.ConsumeTopics("dlq"))
	fetches := cl.PollFetches(testCtx(t))
	recs := fetches.Records()
	if len(recs) != 1 || string(recs[0].Key) != "bad" || string(recs[0].Value) != "xyz" {
		t.Fatalf("dead letters %v", recs)
	}
	h := map[string]string{}
	for _, x := range recs[0].Headers {
		h[x.Key] = string(x.Value)
	}
	if h["__streams.errors.topic"] != "nums" || h["__streams.errors.message"] == "" {
		t.Errorf("dead-letter headers %v", h)
	}
	if got := app.Metrics()["deserialization-errors"]; got != 1 {
		t.Errorf("deserialization-errors %d, want 1", got)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	topo := wordCountTopology(t)
	for _, c := range []struct {
		opts []AppOption
		want string
	}{
		{[]AppOption{Brokers("x:1")}, "AppID is required"},
		{[]AppOption{AppID("a")}, "give Brokers, or Embedded"},
		{[]AppOption{AppID("a"), Brokers("x:1"), Embedded("d")}, "exclude each other"},
		{[]AppOption{AppID("a"), Brokers("x:1"), Threads(0)}, "Threads(0)"},
		{[]AppOption{AppID("a"), Brokers("x:1"), CommitInterval(0)}, "CommitInterval(0s)"},
	} {
		_, err := New(topo, c.opts...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: error %v, want %q", err, c.want)
		}
	}
	if _, err := New(topo, AppID("a"), Brokers("x:1")); err != nil {
		t.Errorf("New: %v", err)
	}
}

// Records the runtime writes to repartition and output topics go to the
// partition Kafka's default partitioner (murmur2) picks for their key, so
// they co-partition with what other clients write; changelog records go
// to their task's partition, which for a count is the same.
func TestOutputPartitioning(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "lines", 3, nil)
	createTopic(t, addr, "word-counts", 3, nil)
	start(t, "a", wordCountTopology(t), testAppOptions(addr)...)
	var text []string
	for i := range 30 {
		text = append(text, fmt.Sprintf("alpha%d beta%d gamma%d", i%11, i%7, i%5))
	}
	produce(t, addr, lines("lines", text...)...)
	waitCounts(t, addr, wordCounts(text...))

	murmur := kgo.StickyKeyPartitioner(nil).ForTopic("any")
	for _, topic := range []string{"wc-counts-repartition", "wc-counts-changelog", "word-counts"} {
		cl := newClient(t, addr, kgo.ConsumeTopics(topic))
		n := 0
		for n < len(wordCounts(text...)) {
			ctx, cancel := context.WithTimeout(testCtx(t), testWait)
			fetches := cl.PollFetches(ctx)
			timedOut := ctx.Err() != nil
			cancel()
			if timedOut {
				t.Fatalf("%s: read %d records", topic, n)
			}
			fetches.EachRecord(func(r *kgo.Record) {
				n++
				if want := int32(murmur.Partition(r, 3)); r.Partition != want {
					t.Errorf("%s: key %q in partition %d, murmur2 says %d", topic, r.Key, r.Partition, want)
				}
			})
		}
	}
}

// ticker forwards one record per wall-clock punctuation, and writes the
// time to its store under the same key in every task.
type ticker struct{ store StoreRef[string, string] }

func (tk ticker) Init(ctx ProcessorContext[string, string]) error {
	kv, err := tk.store.Open(ctx)
	if err != nil {
		return err
	}
	ctx.Schedule(20*time.Millisecond, WallClockTime, func(now time.Time) error {
		if err := kv.Put("k", now.String()); err != nil {
			return err
		}
		return ctx.Forward(Record[string, string]{Key: ctx.TaskID().String(), Value: "tick", Timestamp: now})
	})
	return nil
}
func (ticker) Process(Record[string, string]) error { return nil }
func (ticker) Close() error                         { return nil }

// Wall-clock punctuations run in the poll loop even when no record comes.
// Changelog records go to their task's partition whatever their key.
func TestWallClockPunctuation(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "quiet", 2, nil)
	createTopic(t, addr, "ticks", 1, nil)
	b := NewBuilder()
	in := From(b, "quiet", serde.String, serde.String)
	last := AddKeyValueStore(b, "last", serde.String, serde.String)
	Process(in, func() Processor[string, string, string, string] { return ticker{last} }, []string{last.Name}).To("ticks")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	start(t, "a", topo, testAppOptions(addr)...)
	waitFor(t, "ticks from both tasks", func() bool {
		got := latest(t, addr, "ticks", serde.String)
		return got["0_0"] == "tick" && got["0_1"] == "tick"
	})
	ends, err := kadm.NewClient(newClient(t, addr)).ListEndOffsets(testCtx(t), "wc-last-changelog")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset == 0 {
			t.Errorf("changelog partition %d is empty: both tasks write key \"k\" to their own partition", o.Partition)
		}
	})
}

// LogAndFail stops the instance with an error naming the record.
func TestBadRecordFails(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "nums", 1, nil)
	b := NewBuilder()
	From(b, "nums", serde.String, serde.Int64).To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	produce(t, addr, &kgo.Record{Topic: "nums", Key: []byte("bad"), Value: []byte("xyz")})
	err = runErr(t, topo, append(testAppOptions(addr), OnBadRecord(LogAndFail))...)
	if want := "record nums-0@0 does not deserialize"; !strings.Contains(err.Error(), want) || strings.Count(err.Error(), want) != 1 {
		t.Fatalf("error %q, want it once: %q", err, want)
	}
}

func TestEmbeddedListenNeedsEmbedded(t *testing.T) {
	topo := wordCountTopology(t)
	if _, err := New(topo, AppID("x"), Brokers("127.0.0.1:1"), EmbeddedListen("127.0.0.1:0")); err == nil || !strings.Contains(err.Error(), "EmbeddedListen needs Embedded") {
		t.Fatalf("New: %v", err)
	}
}
