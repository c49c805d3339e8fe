package stream

import (
	"time"

	"github.com/runnel-io/runnel/stream/internal/engine"
)

// Header is a Kafka record header.
type Header = engine.Header

// TaskID names a task: sub-topology × partition ("1_3").
type TaskID = engine.TaskID

// Record is a record as the Processor API sees it.
type Record[K, V any] struct {
	Key       K
	Value     V
	Timestamp time.Time
	Headers   []Header
	// Tombstone: the value is null (for a table, a delete); Value is then
	// V's zero value.
	Tombstone bool
	// NullKey: the key is null; Key is then K's zero value.
	NullKey bool
}

// Processor is the low-level API, for what the DSL cannot say. One
// instance is made per task (by the constructor given to Process); the
// runtime calls Init once, Process for each record in order, and Close
// when the task closes, all from the task's goroutine. Builder.Build also
// makes one instance, calls Init and Close on it (on empty stores, without
// records) to check the stores it opens: Init must have no effect outside
// its task, and must not write records.
type Processor[KIn, VIn, KOut, VOut any] interface {
	Init(ctx ProcessorContext[KOut, VOut]) error
	Process(r Record[KIn, VIn]) error
	Close() error
}

// PunctuationType says which clock a punctuation follows.
type PunctuationType = engine.PunctuationType

const (
	// StreamTime punctuations fire as the task's stream time advances.
	StreamTime = engine.StreamTime
	// WallClockTime punctuations fire on the runtime's clock.
	WallClockTime = engine.WallClock
)

// Cancellable stops a scheduled punctuation.
type Cancellable interface{ Cancel() }

// ProcessorContext is a processor's view of its task. Open a connected
// store with StoreRef.Open(ctx).
type ProcessorContext[K, V any] interface {
	// Forward sends r to every child of the processor.
	Forward(r Record[K, V]) error
	// ForwardTo sends r to the child named child.
	ForwardTo(child string, r Record[K, V]) error
	// Schedule calls f every interval on the given clock; f gets the
	// punctuation's time and may Forward.
	Schedule(interval time.Duration, t PunctuationType, f func(time.Time) error) Cancellable
	// TaskID is the processor's task.
	TaskID() TaskID
	// StreamTime is the largest record timestamp the task has seen.
	StreamTime() time.Time
	// Origin is the topic, partition and offset of the record being
	// processed; ok is false in a punctuation.
	Origin() (topic string, partition int32, offset int64, ok bool)
	procCtx() *engine.ProcCtx
}

// Process adds a processor made by newProc for each task, fed by s and
// connected to the stores named. Its output may have any key, so a later
// grouping or join repartitions.
func Process[K, V, K2, V2 any](s Stream[K, V], newProc func() Processor[K, V, K2, V2], stores []string, opts ...Option) Stream[K2, V2] {
	n := s.add("KSTREAM-PROCESSOR", options(opts), func() engine.Proc {
		return &adapter[K, V, K2, V2]{p: newProc()}
	}, stores...)
	return derive[K, V, K2, V2](s, n, true)
}

type adapter[K, V, K2, V2 any] struct {
	p Processor[K, V, K2, V2]
	c *engine.ProcCtx
}

func (a *adapter[K, V, K2, V2]) Init(c *engine.ProcCtx) error {
	a.c = c
	return a.p.Init(pctx[K2, V2]{c})
}

func (a *adapter[K, V, K2, V2]) Process(_ *engine.ProcCtx, r engine.Rec) error {
	return a.p.Process(Record[K, V]{
		Key: engine.As[K](r.Key), Value: engine.As[V](r.Value), Timestamp: time.UnixMilli(r.TS),
		Headers: r.Headers, Tombstone: r.Tombstone, NullKey: r.NullKey,
	})
}

func (a *adapter[K, V, K2, V2]) Close() error { return a.p.Close() }

type pctx[K, V any] struct{ c *engine.ProcCtx }

func rec[K, V any](r Record[K, V]) engine.Rec {
	out := engine.Rec{Key: r.Key, Value: r.Value, TS: r.Timestamp.UnixMilli(), Headers: r.Headers, Tombstone: r.Tombstone, NullKey: r.NullKey}
	if r.Tombstone {
		out.Value = nil
	}
	return out
}

func (p pctx[K, V]) Forward(r Record[K, V]) error { return p.c.Forward(rec(r)) }
func (p pctx[K, V]) ForwardTo(child string, r Record[K, V]) error {
	return p.c.ForwardTo(child, rec(r))
}
func (p pctx[K, V]) Schedule(d time.Duration, t PunctuationType, f func(time.Time) error) Cancellable {
	return p.c.Schedule(d, t, func(ms int64) error { return f(time.UnixMilli(ms)) })
}
func (p pctx[K, V]) TaskID() TaskID { return p.c.Task.ID }
func (p pctx[K, V]) StreamTime() time.Time {
	if st := p.c.Task.StreamTime(); st != engine.NoStreamTime {
		return time.UnixMilli(st)
	}
	return time.Time{}
}
func (p pctx[K, V]) Origin() (string, int32, int64, bool) {
	o := p.c.Origin()
	return o.Topic, o.Partition, o.Offset, o.Offset >= 0
}
func (p pctx[K, V]) procCtx() *engine.ProcCtx { return p.c }

// BadRecordPolicy says what happens to an input record whose key or value
// does not deserialize. The default is LogAndSkip; never is a record lost
// silently.
type BadRecordPolicy = engine.BadRecordPolicy

var (
	// LogAndSkip logs the record's topic, partition, offset and error, counts
	// it, and goes on.
	LogAndSkip = BadRecordPolicy{}
	// LogAndFail stops the application with an error naming the record.
	LogAndFail = BadRecordPolicy{Fail: true}
)

// DeadLetter logs the record and copies it, bytes unchanged, to topic,
// with headers giving the error and where the record came from.
func DeadLetter(topic string) BadRecordPolicy { return BadRecordPolicy{DeadLetterTopic: topic} }
