package stream

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/stream/internal/engine"
)

// thread is a stream thread: a goroutine that runs the batches of the
// tasks it owns. The loop hands it one job per poll on in and waits for
// its answer on out, so a task is only ever used by its thread, and only
// while the loop waits.
type thread struct {
	id    int
	in    chan job
	out   chan error
	tasks int // tasks on this thread (loop state)
}

// job is one poll's work for a thread: the records of its tasks, and
// every task of the thread for wall-clock punctuations.
type job struct {
	batches []taskBatch
	punct   []*runTask
	now     time.Time
}

// taskBatch is one task's records from one poll, one slice per source
// partition, each in offset order.
type taskBatch struct {
	task  *runTask
	parts [][]*kgo.Record
}

func (r *runtime) startThreads() {
	for i := range r.app.cfg.threads {
		th := &thread{id: i, in: make(chan job, 1), out: make(chan error, 1)}
		r.threads = append(r.threads, th)
		go th.loop()
	}
}

func (r *runtime) stopThreads() {
	for _, th := range r.threads {
		close(th.in)
	}
}

func (th *thread) loop() {
	for j := range th.in {
		th.out <- j.run()
	}
}

func (j job) run() error {
	for _, b := range j.batches {
		if err := b.run(); err != nil {
			return err
		}
	}
	for _, t := range j.punct {
		if err := t.PunctuateWall(j.now); err != nil {
			return err
		}
	}
	return nil
}

// run processes a task's records. With several source partitions (a
// join's co-partitioned inputs), records go in timestamp order across
// partitions, ties to the partition listed first, as Kafka Streams picks
// the partition with the lowest head timestamp.
func (b taskBatch) run() error {
	if len(b.parts) == 1 {
		for _, rec := range b.parts[0] {
			if err := b.task.processRecord(rec); err != nil {
				return err
			}
		}
		return nil
	}
	next := make([]int, len(b.parts))
	for {
		best := -1
		for i, p := range b.parts {
			if next[i] < len(p) && (best < 0 || p[next[i]].Timestamp.Before(b.parts[best][next[best]].Timestamp)) {
				best = i
			}
		}
		if best < 0 {
			return nil
		}
		rec := b.parts[best][next[best]]
		next[best]++
		if err := b.task.processRecord(rec); err != nil {
			return err
		}
	}
}

func (t *runTask) processRecord(rec *kgo.Record) error {
	o := engine.Origin{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}
	return t.Process(o, rec.Key, rec.Value, rec.Timestamp.UnixMilli(), headers(rec.Headers))
}

func headers(hs []kgo.RecordHeader) []engine.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]engine.Header, len(hs))
	for i, h := range hs {
		out[i] = engine.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// route groups a poll's records by task and thread.
func (r *runtime) route(fetches kgo.Fetches) map[*thread][]taskBatch {
	work := map[*thread][]taskBatch{}
	index := map[*runTask]int{}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		id := TaskID{Sub: r.subOf[p.Topic], Partition: p.Partition}
		t := r.tasks[id]
		if t == nil {
			// Cannot happen: partitions are assigned with their task.
			r.logger.Error("stream: records for a partition without a task; not processed", "topic", p.Topic, "partition", p.Partition)
			return
		}
		i, ok := index[t]
		if !ok {
			i = len(work[t.thread])
			index[t] = i
			work[t.thread] = append(work[t.thread], taskBatch{task: t})
		}
		work[t.thread][i].parts = append(work[t.thread][i].parts, p.Records)
	})
	return work
}

// process runs a poll's work on the threads, waits for all of them, and
// on success records the offsets to commit.
func (r *runtime) process(work map[*thread][]taskBatch) error {
	now := time.Now()
	punct := map[*thread][]*runTask{}
	for _, t := range r.tasks {
		punct[t.thread] = append(punct[t.thread], t)
	}
	var busy []*thread
	for _, th := range r.threads {
		if len(work[th]) == 0 && len(punct[th]) == 0 {
			continue
		}
		th.in <- job{batches: work[th], punct: punct[th], now: now}
		busy = append(busy, th)
	}
	var first error
	for _, th := range busy {
		if err := <-th.out; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	var n int64
	for _, batches := range work {
		for _, b := range batches {
			for _, recs := range b.parts {
				last := recs[len(recs)-1]
				r.markProcessed(last)
				n += int64(len(recs))
			}
		}
	}
	if n > 0 {
		r.app.metrics.Add(engine.MetricProcessed, n)
	}
	return nil
}

func (r *runtime) markProcessed(last *kgo.Record) {
	m := r.offsets[last.Topic]
	if m == nil {
		m = map[int32]kgo.EpochOffset{}
		r.offsets[last.Topic] = m
	}
	m[last.Partition] = kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}
}

// leastLoaded returns the thread with the fewest tasks.
func (r *runtime) leastLoaded() *thread {
	best := r.threads[0]
	for _, th := range r.threads[1:] {
		if th.tasks < best.tasks {
			best = th
		}
	}
	return best
}
