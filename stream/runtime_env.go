package stream

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream/internal/engine"
)

// taskEnv is what one task sees of the runtime (engine.Env).
type taskEnv struct {
	r  *runtime
	id TaskID
	// stores are the task's raw stores, restored from their changelogs
	// before the task opens them.
	stores map[string]*state.Memory
}

var _ engine.Env = (*taskEnv)(nil)

// Send writes to a user, repartition or dead-letter topic; the
// partitioner hashes the key with murmur2 as Kafka's default partitioner
// does (so records co-partition with those other clients wrote), and
// spreads null keys.
func (e *taskEnv) Send(topic string, key, value []byte, ts int64, h []engine.Header) error {
	rec := &kgo.Record{Topic: topic, Key: key, Value: value}
	if ts >= 0 {
		rec.Timestamp = time.UnixMilli(ts)
	}
	for _, x := range h {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: x.Key, Value: x.Value})
	}
	return e.r.produce(rec)
}

func (e *taskEnv) Topic(name string, internal bool) string { return e.r.app.topic(name, internal) }

// OpenStore returns the task's restored store, wrapped so that every
// change goes to partition task.Partition of its changelog.
func (e *taskEnv) OpenStore(def *engine.StoreDef, id engine.TaskID) (state.KeyValue, error) {
	mem := e.stores[def.Name]
	if mem == nil {
		mem = state.NewMemory()
	}
	if !def.Logged {
		return mem, nil
	}
	changelog := e.Topic(def.ChangelogTopic(), true)
	return state.Logged(mem, func(key, value []byte) error {
		// The store's caller may reuse its slices; the producer keeps them
		// until the record is acknowledged.
		rec := &kgo.Record{Topic: changelog, Partition: id.Partition, Key: clone(key), Value: clone(value)}
		return e.r.produce(rec)
	}), nil
}

func (e *taskEnv) BadRecord(id engine.TaskID, o engine.Origin, key, value []byte, err error) error {
	return e.r.app.cfg.policy.Handle(e.r.logger, e.Send, id, o, key, value, err)
}

func (e *taskEnv) Logger() *slog.Logger     { return e.r.logger }
func (e *taskEnv) Metrics() *engine.Metrics { return &e.r.app.metrics }
func (e *taskEnv) Now() time.Time           { return time.Now() }

// partitioner sends changelog records to the partition set on the record
// (the task's), and every other record by key hash (murmur2, as Kafka's
// default partitioner), null keys to a sticky partition.
type partitioner struct {
	manual          map[string]bool // changelog topics
	byKey, byRecord kgo.Partitioner
}

func newPartitioner(changelogs map[string]bool) partitioner {
	return partitioner{manual: changelogs, byKey: kgo.StickyKeyPartitioner(nil), byRecord: kgo.ManualPartitioner()}
}

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if p.manual[topic] {
		return p.byRecord.ForTopic(topic)
	}
	return p.byKey.ForTopic(topic)
}

// kgoLogger passes franz-go's warnings and errors to the instance's
// logger (its info and debug lines are too many to keep).
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	if level == kgo.LogLevelError {
		lvl = slog.LevelError
	}
	k.l.Log(context.Background(), lvl, "kgo: "+msg, keyvals...)
}

// clone copies b (nil stays nil, empty stays empty). make then copy is
// one allocation the compiler does not zero (append and bytes.Clone round
// up to a size class and clear the tail).
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
