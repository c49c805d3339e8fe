package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/runnel-io/runnel/state"
)

// TaskID names a task: sub-topology × partition, printed "1_3" as in
// Kafka Streams.
type TaskID struct {
	Sub       int
	Partition int32
}

func (id TaskID) String() string { return fmt.Sprintf("%d_%d", id.Sub, id.Partition) }

// Env is what a task needs from its runtime.
type Env interface {
	// Send writes an output record to the topic named topic (the full
	// name) and the partition its key hashes to, as Kafka's default
	// partitioner does. A nil value is a tombstone, a nil key a null key.
	Send(topic string, key, value []byte, ts int64, headers []Header) error
	// Topic returns the full name of a topic: internal ones get the
	// application id prefix.
	Topic(name string, internal bool) string
	// OpenStore returns task id's instance of the store, restored from
	// its changelog if it has one, and wrapped so that changes are logged.
	OpenStore(def *StoreDef, id TaskID) (state.KeyValue, error)
	// BadRecord is called with a record whose key or value does not
	// decode. Returning nil skips the record; an error stops the task.
	BadRecord(id TaskID, o Origin, key, value []byte, err error) error
	Logger() *slog.Logger
	Metrics() *Metrics
	// Now is the wall clock (the test driver's is advanced by hand).
	Now() time.Time
}

// Proc is a processor instance, owned by one task.
type Proc interface {
	Init(c *ProcCtx) error
	Process(c *ProcCtx, r Rec) error
	Close() error
}

// ProcFunc is a stateless Proc.
type ProcFunc func(c *ProcCtx, r Rec) error

func (f ProcFunc) Init(*ProcCtx) error             { return nil }
func (f ProcFunc) Process(c *ProcCtx, r Rec) error { return f(c, r) }
func (f ProcFunc) Close() error                    { return nil }

// NoStreamTime is the stream time of a task that has seen no record.
const NoStreamTime = math.MinInt64

// Task runs one sub-topology for one partition.
//
// Threading: a task is used by one goroutine at a time (its stream
// thread); nothing in it is safe for concurrent use.
type Task struct {
	ID  TaskID
	sub *Subtopology
	env Env

	sources map[string]*Node // full topic name → source node
	procs   []*ProcCtx       // indexed like sub.Nodes
	byNode  map[*Node]*ProcCtx
	stores  map[string]state.KeyValue

	streamTime int64
	origin     Origin
	// last source looked up by Process: records come in runs per topic.
	lastTopic string
	lastSrc   *ProcCtx
	punct     []*Punctuation
	warned    map[string]bool
	onCommit  []func() error
}

// NewTask opens the task's stores and initialises its processors.
func NewTask(t *Topology, id TaskID, env Env) (_ *Task, err error) {
	if id.Sub < 0 || id.Sub >= len(t.Subs) {
		return nil, fmt.Errorf("stream: task %s: no sub-topology %d", id, id.Sub)
	}
	sub := t.Subs[id.Sub]
	task := &Task{
		ID: id, sub: sub, env: env,
		byNode:     map[*Node]*ProcCtx{},
		sources:    map[string]*Node{},
		stores:     map[string]state.KeyValue{},
		streamTime: NoStreamTime,
		origin:     Origin{Offset: -1},
		warned:     map[string]bool{},
	}
	defer func() {
		if err != nil {
			task.Close()
		}
	}()
	for topic, n := range sub.Sources {
		task.sources[env.Topic(topic, n.Internal)] = n
	}
	for _, def := range sub.Stores {
		kv, err := env.OpenStore(def, id)
		if err != nil {
			return nil, fmt.Errorf("stream: task %s: open store %s: %w", id, def.Name, err)
		}
		task.stores[def.Name] = kv
	}
	for _, n := range sub.Nodes {
		c := &ProcCtx{Task: task, Node: n}
		switch n.Kind {
		case KindSource:
			c.proc = ProcFunc(forwardAll)
		case KindSink:
			c.proc = newSink(n, env)
		default:
			c.proc = n.New()
		}
		task.procs = append(task.procs, c)
		task.byNode[n] = c
	}
	for _, c := range task.procs {
		for _, child := range c.Node.children {
			c.children = append(c.children, task.byNode[child])
		}
	}
	for _, c := range task.procs {
		if err := c.proc.Init(c); err != nil {
			return nil, fmt.Errorf("stream: task %s: init %s: %w", id, c.Node.Name, err)
		}
	}
	return task, nil
}

func forwardAll(c *ProcCtx, r Rec) error { return c.Forward(r) }

// Process decodes one input record and runs it through the task. It
// returns an error only when the task must stop (a processor failed, or
// the bad-record handler said fail).
func (t *Task) Process(o Origin, key, value []byte, ts int64, headers []Header) error {
	sc := t.source(o.Topic)
	if sc == nil {
		return fmt.Errorf("stream: task %s: no source reads topic %q", t.ID, o.Topic)
	}
	src := sc.Node
	r := Rec{TS: ts, Headers: headers, NullKey: key == nil, Tombstone: value == nil}
	var err error
	if key != nil && src.DecodeKey != nil {
		r.Key, err = src.DecodeKey(key)
	}
	if err == nil && value != nil && src.DecodeValue != nil {
		r.Value, err = src.DecodeValue(value)
	}
	if err != nil {
		t.env.Metrics().Add(MetricDeserializationErrors, 1)
		return t.env.BadRecord(t.ID, o, key, value, err)
	}
	if src.Timestamp != nil {
		r = extractTS(src, r) // r itself stays on the stack
	}
	if r.TS < 0 {
		t.Drop(src, "negative-timestamp", fmt.Sprintf("%s-%d@%d", o.Topic, o.Partition, o.Offset))
		return nil
	}
	t.origin = o
	if r.TS > t.streamTime {
		t.streamTime = r.TS
	}
	if err := sc.Forward(r); err != nil {
		return fmt.Errorf("stream: task %s: record %s-%d@%d: %w", t.ID, o.Topic, o.Partition, o.Offset, err)
	}
	t.origin = Origin{Offset: -1}
	if len(t.punct) == 0 {
		return nil
	}
	return t.punctuate(StreamTime, t.streamTime)
}

// source returns the source processor reading topic, or nil.
func (t *Task) source(topic string) *ProcCtx {
	if topic != t.lastTopic || t.lastSrc == nil {
		n := t.sources[topic]
		if n == nil {
			return nil
		}
		t.lastTopic, t.lastSrc = topic, t.byNode[n]
	}
	return t.lastSrc
}

// extractTS returns r with the timestamp src's extractor gives it.
func extractTS(src *Node, r Rec) Rec {
	r.TS = src.Timestamp(&r)
	return r
}

// StreamTime is the largest record timestamp the task has processed, in
// Unix milliseconds, or NoStreamTime.
func (t *Task) StreamTime() int64 { return t.streamTime }

// Sub is the sub-topology the task runs.
func (t *Task) Sub() *Subtopology { return t.sub }

// Store returns the task's instance of a store, or nil.
func (t *Task) Store(name string) state.KeyValue { return t.stores[name] }

// PunctuateWall runs the wall-clock punctuations that are due at now.
func (t *Task) PunctuateWall(now time.Time) error {
	return t.punctuate(WallClock, now.UnixMilli())
}

// Drop counts a record dropped by node for reason, and logs the first
// drop per node and reason at warn level (later ones at debug, so a flood
// of bad records cannot flood the log).
func (t *Task) Drop(n *Node, reason, what string) {
	t.env.Metrics().Add(MetricDropped+reason, 1)
	k := n.Name + "/" + reason
	level := slog.LevelDebug
	if !t.warned[k] {
		t.warned[k] = true
		level = slog.LevelWarn
	}
	t.env.Logger().Log(context.Background(), level, "stream: record dropped", "task", t.ID.String(), "processor", n.Name, "reason", reason, "record", what)
}

// Committed tells the task that everything it sent so far (outputs,
// repartition records, changelog changes) is acknowledged by the cluster:
// the runtime calls it after a successful flush, at each commit, from the
// goroutine that owns the task while it runs no record. It runs the
// processors' OnCommit callbacks in registration order and returns the
// first error (the task must then stop, as after a failed Process).
func (t *Task) Committed() error {
	for _, fn := range t.onCommit {
		if err := fn(); err != nil {
			return fmt.Errorf("stream: task %s: on commit: %w", t.ID, err)
		}
	}
	return nil
}

// Close closes processors then stores. It returns the first error.
func (t *Task) Close() error {
	var errs []error
	for _, c := range t.procs {
		errs = append(errs, c.proc.Close())
	}
	for name, kv := range t.stores {
		if err := kv.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// ProcCtx is a processor's view of its task.
type ProcCtx struct {
	Task     *Task
	Node     *Node
	proc     Proc
	children []*ProcCtx
}

// Forward passes r to every child, depth first.
func (c *ProcCtx) Forward(r Rec) error {
	for _, child := range c.children {
		if err := child.proc.Process(child, r); err != nil {
			return err
		}
	}
	return nil
}

// ForwardTo passes r to the child named name only.
func (c *ProcCtx) ForwardTo(name string, r Rec) error {
	for _, child := range c.children {
		if child.Node.Name == name {
			return child.proc.Process(child, r)
		}
	}
	return fmt.Errorf("stream: %s has no child %q", c.Node.Name, name)
}

// Store returns the task's instance of a store connected to this
// processor.
func (c *ProcCtx) Store(name string) (state.KeyValue, error) {
	for _, s := range c.Node.Stores {
		if s == name {
			return c.Task.stores[name], nil
		}
	}
	return nil, fmt.Errorf("stream: processor %s is not connected to store %q (name it when adding the processor)", c.Node.Name, name)
}

// OnCommit registers fn to run at each Task.Committed, on the task's
// goroutine: when fn runs, everything the processor forwarded, and every
// store change it made, before it is acknowledged. A processor uses it to
// save progress that claims outputs (a window emitted, an unjoined result
// given) only once they cannot be lost. What fn writes to a store is
// itself acknowledged by the next commit's flush. Call it from Init.
func (c *ProcCtx) OnCommit(fn func() error) { c.Task.onCommit = append(c.Task.onCommit, fn) }

// Origin is where the record being processed came from.
func (c *ProcCtx) Origin() Origin { return c.Task.origin }

// DropNulls drops (counts and logs) a record with a null key or a null
// value, which aggregations and joins cannot take, and reports whether it
// did.
func (c *ProcCtx) DropNulls(r Rec) bool {
	switch {
	case r.NullKey:
		c.Drop("null-key", r)
		return true
	case r.Tombstone:
		c.Drop("null-value", r)
		return true
	}
	return false
}

// Drop counts and logs a dropped record (see Task.Drop).
func (c *ProcCtx) Drop(reason string, r Rec) {
	c.Task.Drop(c.Node, reason, fmt.Sprintf("key=%v ts=%d", r.Key, r.TS))
}

type sink struct {
	n     *Node
	topic string
	env   Env
}

// newSink makes the processor of a sink node; an internal sink (Internal
// set, as on a repartition topic's sink) writes the prefixed topic.
func newSink(n *Node, env Env) *sink {
	return &sink{n: n, env: env, topic: env.Topic(n.Topic, n.Internal)}
}

func (s *sink) Init(*ProcCtx) error { return nil }
func (s *sink) Close() error        { return nil }

func (s *sink) Process(c *ProcCtx, r Rec) error {
	var key, value []byte
	var err error
	if !r.NullKey && s.n.EncodeKey != nil {
		if key, err = s.n.EncodeKey(r.Key); err != nil {
			return fmt.Errorf("sink %s: encode key: %w", s.n.Name, err)
		}
	}
	if !r.Tombstone && s.n.EncodeValue != nil {
		if value, err = s.n.EncodeValue(r.Value); err != nil {
			return fmt.Errorf("sink %s: encode value: %w", s.n.Name, err)
		}
		if value == nil {
			value = []byte{}
		}
	}
	return s.env.Send(s.topic, key, value, r.TS, r.Headers)
}
