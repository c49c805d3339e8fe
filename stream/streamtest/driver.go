// Package streamtest runs a topology synchronously in memory, the
// counterpart of Kafka Streams' TopologyTestDriver: pipe records with
// timestamps into input topics, read what the topology wrote to its output
// topics, look into its state stores, and advance the wall clock. There is
// no broker and no goroutine: every call has finished all its processing
// when it returns, so tests are deterministic and fast.
//
// Every topic has one partition here, so each sub-topology runs as one
// task (partition 0). Records written to a topic the topology also reads
// (repartition topics, or a user topic read back) are processed right
// after the record that caused them, in order.
package streamtest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/internal/engine"
)

// Driver runs one topology in memory. It is not safe for concurrent use.
type Driver struct {
	topo    *stream.Topology
	cfg     config
	tasks   map[int]*engine.Task
	readers map[string]int // full topic name → sub-topology reading it
	topics  map[string]*topicLog
	pending []pending
	metrics engine.Metrics
	closed  bool
	failure error
}

type pending struct {
	topic string
	msg   Message
}

// Message is a record as stored in a driver topic.
type Message struct {
	Key, Value []byte // nil: null
	Timestamp  time.Time
	Headers    []stream.Header
	Offset     int64
}

type topicLog struct {
	msgs []Message
	read int // next message Output readers have not seen
}

type config struct {
	appID  string
	now    time.Time
	logger *slog.Logger
	policy stream.BadRecordPolicy
}

// Option configures a Driver.
type Option func(*config)

// AppID sets the application id that prefixes internal topics (default
// "streamtest").
func AppID(id string) Option { return func(c *config) { c.appID = id } }

// WallClock sets the wall clock's start (default: the Unix epoch).
func WallClock(t time.Time) Option { return func(c *config) { c.now = t } }

// Logger sets where the driver's tasks log (default: nowhere).
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// OnBadRecord sets the bad-record policy (default stream.LogAndSkip).
func OnBadRecord(p stream.BadRecordPolicy) Option { return func(c *config) { c.policy = p } }

// New starts a driver: one task per sub-topology, stores empty.
func New(t *stream.Topology, opts ...Option) (*Driver, error) {
	cfg := config{appID: "streamtest", now: time.UnixMilli(0), logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	d := &Driver{topo: t, cfg: cfg, tasks: map[int]*engine.Task{}, readers: map[string]int{}, topics: map[string]*topicLog{}}
	for _, sub := range t.Subs {
		topics, internal := sub.SourceTopics()
		for _, topic := range topics {
			d.readers[d.Topic(topic, internal[topic])] = sub.ID
		}
	}
	for _, sub := range t.Subs {
		task, err := engine.NewTask(t, engine.TaskID{Sub: sub.ID}, (*env)(d))
		if err != nil {
			d.Close()
			return nil, err
		}
		d.tasks[sub.ID] = task
	}
	return d, nil
}

// Pipe writes one record to an input topic and processes it, with all the
// records it causes downstream. A nil key or value is null.
func (d *Driver) Pipe(topic string, key, value []byte, ts time.Time, headers ...stream.Header) error {
	if d.closed {
		return errors.New("streamtest: driver closed")
	}
	if d.failure != nil {
		return fmt.Errorf("streamtest: a task failed earlier: %w", d.failure)
	}
	if _, ok := d.readers[topic]; !ok {
		return fmt.Errorf("streamtest: the topology reads no topic %q", topic)
	}
	d.pending = append(d.pending, pending{topic, Message{Key: key, Value: value, Timestamp: ts, Headers: headers}})
	return d.drain()
}

func (d *Driver) drain() error {
	for len(d.pending) > 0 {
		p := d.pending[0]
		d.pending = d.pending[1:]
		log := d.log(p.topic)
		p.msg.Offset = int64(len(log.msgs))
		log.msgs = append(log.msgs, p.msg)
		task := d.tasks[d.readers[p.topic]]
		o := engine.Origin{Topic: p.topic, Offset: p.msg.Offset}
		err := task.Process(o, p.msg.Key, p.msg.Value, p.msg.Timestamp.UnixMilli(), p.msg.Headers)
		if err == nil {
			err = task.Committed() // outputs are synchronous: all acknowledged
		}
		if err != nil {
			d.pending = nil
			d.failure = err
			return err
		}
		d.metrics.Add(engine.MetricProcessed, 1)
	}
	return nil
}

// AdvanceWallClock moves the wall clock forward and runs the wall-clock
// punctuations that come due, in task order.
func (d *Driver) AdvanceWallClock(by time.Duration) error {
	d.cfg.now = d.cfg.now.Add(by)
	for _, id := range d.taskIDs() {
		err := d.tasks[id].PunctuateWall(d.cfg.now)
		if err == nil {
			err = d.tasks[id].Committed()
		}
		if err != nil {
			d.failure = err
			return err
		}
		if err := d.drain(); err != nil {
			return err
		}
	}
	return nil
}

func (d *Driver) taskIDs() []int {
	ids := make([]int, 0, len(d.tasks))
	for id := range d.tasks {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// Topic returns the full name of a topic as the topology knows it:
// internal topics get the application id prefix.
func (d *Driver) Topic(name string, internal bool) string {
	if internal {
		return d.cfg.appID + "-" + name
	}
	return name
}

// Messages returns every record written to a topic so far (outputs,
// repartition and changelog topics, dead letters, and inputs).
func (d *Driver) Messages(topic string) []Message {
	return append([]Message(nil), d.log(topic).msgs...)
}

// Store returns a store's instance in the task that holds it, or nil.
func (d *Driver) Store(name string) state.KeyValue {
	for _, id := range d.taskIDs() {
		if kv := d.tasks[id].Store(name); kv != nil {
			return kv
		}
	}
	return nil
}

// Metrics returns the counters: processed records, dropped records by
// reason ("dropped-records-late", ...), deserialization errors.
func (d *Driver) Metrics() map[string]int64 { return d.metrics.Snapshot() }

// StreamTime is the stream time of the task that reads topic.
func (d *Driver) StreamTime(topic string) time.Time {
	task, ok := d.tasks[d.readers[topic]]
	if !ok || task.StreamTime() == engine.NoStreamTime {
		return time.Time{}
	}
	return time.UnixMilli(task.StreamTime())
}

// Describe is the topology's description.
func (d *Driver) Describe() string { return d.topo.Describe() }

// Close closes every task.
func (d *Driver) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	for _, id := range d.taskIDs() {
		errs = append(errs, d.tasks[id].Close())
	}
	return errors.Join(errs...)
}

func (d *Driver) log(topic string) *topicLog {
	l := d.topics[topic]
	if l == nil {
		l = &topicLog{}
		d.topics[topic] = l
	}
	return l
}

// env is the Driver seen by its tasks.
type env Driver

func (e *env) Send(topic string, key, value []byte, ts int64, h []engine.Header) error {
	d := (*Driver)(e)
	if ts < 0 {
		ts = d.cfg.now.UnixMilli()
	}
	msg := Message{Key: clone(key), Value: clone(value), Timestamp: time.UnixMilli(ts), Headers: h}
	if _, read := d.readers[topic]; read {
		d.pending = append(d.pending, pending{topic, msg})
		return nil
	}
	l := d.log(topic)
	msg.Offset = int64(len(l.msgs))
	l.msgs = append(l.msgs, msg)
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (e *env) Topic(name string, internal bool) string { return (*Driver)(e).Topic(name, internal) }

func (e *env) OpenStore(def *engine.StoreDef, id engine.TaskID) (state.KeyValue, error) {
	mem := state.NewMemory()
	if !def.Logged {
		return mem, nil
	}
	changelog := e.Topic(def.ChangelogTopic(), true)
	return state.Logged(mem, func(key, value []byte) error {
		return e.Send(changelog, key, value, -1, nil)
	}), nil
}

func (e *env) BadRecord(id engine.TaskID, o engine.Origin, key, value []byte, err error) error {
	return e.cfg.policy.Handle(e.cfg.logger, e.Send, id, o, key, value, err)
}

func (e *env) Logger() *slog.Logger     { return e.cfg.logger }
func (e *env) Metrics() *engine.Metrics { return &e.metrics }
func (e *env) Now() time.Time           { return e.cfg.now }
