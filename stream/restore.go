package stream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream/internal/engine"
)

// restoreIdle is how long a restore waits for more changelog records
// before deciding that the records left below the end offset are gone (a
// compacted tail: the end offset is past the last record kept).
const restoreIdle = 5 * time.Second

// restoring is one store's changelog partition to replay.
type restoring struct {
	task  TaskID
	store string
	mem   *state.Memory
	end   int64 // the partition's end offset when the task was assigned
	n     int   // records applied
}

type topicPartition struct {
	topic     string
	partition int32
}

// openTasks restores the stores of new tasks from their changelogs, then
// creates the tasks on the least loaded threads. Called with the loop
// mutex held, before any record of these tasks is processed.
func (r *runtime) openTasks(ctx context.Context, ids []TaskID) error {
	stores := map[TaskID]map[string]*state.Memory{}
	todo := map[topicPartition]*restoring{}
	for _, id := range ids {
		stores[id] = map[string]*state.Memory{}
		for _, def := range r.app.topo.Subs[id.Sub].Stores {
			mem := state.NewMemory()
			stores[id][def.Name] = mem
			if def.Logged {
				tp := topicPartition{r.app.topic(def.ChangelogTopic(), true), id.Partition}
				todo[tp] = &restoring{task: id, store: def.Name, mem: mem}
			}
		}
	}
	if err := r.restore(ctx, todo); err != nil {
		return err
	}
	for _, id := range ids {
		t, err := engine.NewTask(r.app.topo, id, &taskEnv{r: r, id: id, stores: stores[id]})
		if err != nil {
			return err
		}
		th := r.leastLoaded()
		th.tasks++
		r.tasks[id] = &runTask{Task: t, thread: th}
	}
	return nil
}

// restore replays each changelog partition from its start to the end
// offset it had when the task was assigned, applying puts and deletes to
// the raw store (not the logged wrapper: replaying writes nothing). It
// reads with a client of its own, consuming the partitions directly.
func (r *runtime) restore(ctx context.Context, todo map[topicPartition]*restoring) error {
	if len(todo) == 0 {
		return nil
	}
	start := time.Now()
	from, err := r.restoreOffsets(ctx, todo)
	if err != nil {
		return err
	}
	if len(from) > 0 {
		if err := r.replay(ctx, todo, from); err != nil {
			return err
		}
	}
	var total int
	for _, tp := range slices.SortedFunc(maps.Keys(todo), compareTP) {
		x := todo[tp]
		total += x.n
		r.logger.Info("stream: restored store", "task", x.task.String(), "store", x.store,
			"changelog", tp.topic, "partition", tp.partition, "records", x.n, "keys", x.mem.Len())
	}
	r.app.metrics.Add("restored-records", int64(total))
	r.logger.Info("stream: restore done", "stores", len(todo), "records", total, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// restoreOffsets sets each partition's end offset and returns the
// partitions that have records to replay, with their start offsets.
func (r *runtime) restoreOffsets(ctx context.Context, todo map[topicPartition]*restoring) (map[string]map[int32]kgo.Offset, error) {
	var topics []string
	for tp := range todo {
		topics = append(topics, tp.topic)
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	starts, err := r.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("stream: restore: list start offsets: %w", err)
	}
	ends, err := r.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("stream: restore: list end offsets: %w", err)
	}
	from := map[string]map[int32]kgo.Offset{}
	for tp, x := range todo {
		s, ok1 := starts.Lookup(tp.topic, tp.partition)
		e, ok2 := ends.Lookup(tp.topic, tp.partition)
		switch {
		case !ok1 || !ok2:
			return nil, fmt.Errorf("stream: restore: changelog %s-%d not found", tp.topic, tp.partition)
		case s.Err != nil || e.Err != nil:
			return nil, fmt.Errorf("stream: restore: offsets of changelog %s-%d: %w", tp.topic, tp.partition, errors.Join(s.Err, e.Err))
		}
		x.end = e.Offset
		if e.Offset > s.Offset {
			if from[tp.topic] == nil {
				from[tp.topic] = map[int32]kgo.Offset{}
			}
			from[tp.topic][tp.partition] = kgo.NewOffset().At(s.Offset)
		}
	}
	return from, nil
}

// replay consumes the partitions in from until each reaches its end.
func (r *runtime) replay(ctx context.Context, todo map[topicPartition]*restoring, from map[string]map[int32]kgo.Offset) error {
	cl, err := kgo.NewClient(append(slices.Clone(r.base), kgo.ConsumePartitions(from))...)
	if err != nil {
		return fmt.Errorf("stream: restore client: %w", err)
	}
	defer cl.Close()
	pending := map[topicPartition]bool{}
	for t, ps := range from {
		for p := range ps {
			pending[topicPartition{t, p}] = true
		}
	}
	for len(pending) > 0 {
		pctx, cancel := context.WithTimeout(ctx, restoreIdle)
		fetches := cl.PollFetches(pctx)
		idle := pctx.Err() != nil
		cancel()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stream: restore: %w", err)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("stream: restore %s-%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		if idle && fetches.Empty() {
			r.logger.Warn("stream: restore: no more changelog records below the end offset; taking the tail as compacted", "partitions", len(pending))
			return nil
		}
		if err := applyChangelog(fetches, todo, pending); err != nil {
			return err
		}
	}
	return nil
}

// applyChangelog applies fetched changelog records below their
// partition's end offset, and marks partitions that reached it.
func applyChangelog(fetches kgo.Fetches, todo map[topicPartition]*restoring, pending map[topicPartition]bool) error {
	var err error
	fetches.EachRecord(func(rec *kgo.Record) {
		tp := topicPartition{rec.Topic, rec.Partition}
		x := todo[tp]
		if err != nil || x == nil || !pending[tp] || rec.Offset >= x.end {
			return
		}
		switch {
		case rec.Key == nil:
		case rec.Value == nil:
			err = x.mem.Delete(rec.Key)
		default:
			err = x.mem.Put(rec.Key, rec.Value)
		}
		x.n++
		if rec.Offset+1 >= x.end {
			delete(pending, tp)
		}
	})
	return err
}

func compareTP(a, b topicPartition) int {
	if a.topic != b.topic {
		if a.topic < b.topic {
			return -1
		}
		return 1
	}
	return int(a.partition - b.partition)
}
