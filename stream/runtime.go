package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-io/runnel/stream/internal/engine"
)

const (
	// pollAll makes a poll take every buffered record. franz-go buffers
	// one fetch per broker and sends that broker's next fetch only once
	// the buffered one is drained: taking it whole lets the next fetch
	// overlap processing (a cap of 10,000 records left the loop waiting
	// for fetches ~40% of the time). A loop iteration's batch, and so a
	// rebalance's wait for the loop (BlockRebalanceOnPoll), stays bounded
	// by the fetch size (kgo.FetchMaxBytes, 50 MiB per broker by
	// default: well under a second of processing).
	pollAll = 0
	// pollWaitMax is the loop's tick when no records arrive: wall-clock
	// punctuations and commits are checked at least this often.
	pollWaitMax = 100 * time.Millisecond
	// closeTimeout bounds the final commit and the group leave.
	closeTimeout = 30 * time.Second
)

// runtime is one running instance: the group member's client, its tasks
// and its stream threads.
//
// Threading: the poll loop (run) and kgo's rebalance callbacks
// (onAssigned, onRevoked, onLost) take turns: with BlockRebalanceOnPoll,
// callbacks wait until the loop calls AllowRebalance, and polls wait for
// callbacks. The loop mutex makes the turns explicit (a callback may start
// between AllowRebalance and the next poll): the loop holds it from a
// poll's return to AllowRebalance, a callback for its whole run. Stream
// threads touch only the tasks handed to them in a job, while the loop
// waits for them.
type runtime struct {
	app    *App
	logger *slog.Logger
	base   []kgo.Opt // seed brokers and the user's client options, for extra clients
	admCl  *kgo.Client
	adm    *kadm.Client
	cl     *kgo.Client // the group member: consumes sources, produces every output
	plan   *topicPlan
	subOf  map[string]int // full source topic → sub-topology

	threads []*thread

	loop       sync.Mutex // guards the fields below
	tasks      map[TaskID]*runTask
	offsets    map[string]map[int32]kgo.EpochOffset // processed, not yet committed
	lastCommit time.Time

	fatal atomic.Pointer[error] // first write error or callback failure

	// Set once by newRuntime, used per record: the produce callback (a
	// method value would be a new closure per record) and its counter.
	onProduced    func(*kgo.Record, error)
	producedCount *atomic.Int64
}

// runTask is a task and the thread it runs on.
type runTask struct {
	*engine.Task
	thread *thread
}

// newRuntime sets up topics and joins the group.
func newRuntime(ctx context.Context, a *App, brokers []string) (_ *runtime, err error) {
	r := &runtime{
		app: a, logger: a.cfg.logger,
		tasks: map[TaskID]*runTask{}, offsets: map[string]map[int32]kgo.EpochOffset{},
		subOf: map[string]int{}, lastCommit: time.Now(),
	}
	r.onProduced = r.produced
	r.producedCount = a.metrics.Counter("produced-records")
	r.base = []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.WithLogger(kgoLogger{r.logger})}
	for _, o := range a.cfg.clientOpts {
		if _, group := o.(kgo.GroupOpt); !group {
			r.base = append(r.base, o)
		}
	}
	if r.plan, err = r.setup(ctx); err != nil {
		return nil, err
	}
	// A fresh admin client for restores: the set-up one has cached
	// "unknown topic" for the internal topics it just created.
	if r.admCl, err = kgo.NewClient(r.base...); err != nil {
		return nil, fmt.Errorf("stream: admin client: %w", err)
	}
	r.adm = kadm.NewClient(r.admCl)
	defer func() {
		if err != nil {
			r.admCl.Close()
		}
	}()
	r.startThreads() // before joining: the first assignment opens tasks on them
	defer func() {
		if err != nil {
			r.stopThreads()
		}
	}()
	subs := make([][]string, len(a.topo.Subs))
	var topics []string
	for _, sub := range a.topo.Subs {
		names, internal := sub.SourceTopics()
		for _, t := range names {
			full := a.topic(t, internal[t])
			subs[sub.ID] = append(subs[sub.ID], full)
			r.subOf[full] = sub.ID
			topics = append(topics, full)
		}
	}
	if r.cl, err = kgo.NewClient(r.groupOpts(subs, topics)...); err != nil {
		return nil, fmt.Errorf("stream: group client: %w", err)
	}
	return r, nil
}

// setup describes, checks and creates topics with a short-lived client.
func (r *runtime) setup(ctx context.Context) (*topicPlan, error) {
	cl, err := kgo.NewClient(r.base...)
	if err != nil {
		return nil, fmt.Errorf("stream: admin client: %w", err)
	}
	defer cl.Close()
	var createSources int32
	if r.app.cfg.dataDir != "" {
		createSources = embeddedPartitions
	}
	return setupTopics(ctx, kadm.NewClient(cl), r.app.topo, r.app.topic, createSources)
}

func (r *runtime) groupOpts(subs [][]string, topics []string) []kgo.Opt {
	manual := map[string]bool{}
	for t := range r.plan.changelog {
		manual[r.app.topic(t, true)] = true
	}
	opts := append([]kgo.Opt(nil), r.base[:2]...)
	opts = append(opts,
		kgo.ConsumerGroup(r.app.cfg.appID),
		kgo.ConsumeTopics(topics...),
		kgo.Balancers(newBalancer(subs, r.logger)),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onLost),
		kgo.RecordPartitioner(newPartitioner(manual)),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Sinks may write topics that do not exist yet, as Kafka's
		// producer may (if the cluster allows it). Sources were checked.
		kgo.AllowAutoTopicCreation(),
	)
	return append(opts, r.app.cfg.clientOpts...)
}

// run is the poll loop. It returns nil when ctx is done, or the first
// fatal error; either way the instance is closed when it returns.
func (r *runtime) run(ctx context.Context) (err error) {
	defer func() {
		if cerr := r.close(); cerr != nil && !errors.Is(err, cerr) {
			err = errors.Join(err, cerr)
		}
	}()
	close(r.app.ready)
	r.logger.Info("stream: instance started", "app", r.app.cfg.appID, "threads", len(r.threads))
	for {
		if err := r.fatalErr(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		fetches := r.poll(ctx)
		r.loop.Lock()
		err := r.step(ctx, fetches)
		r.loop.Unlock()
		r.cl.AllowRebalance()
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil // a commit cut short by the end of Run: close commits
		}
		if err != nil {
			return err
		}
	}
}

func (r *runtime) poll(ctx context.Context) kgo.Fetches {
	r.loop.Lock()
	wait := min(pollWaitMax, time.Until(r.lastCommit.Add(r.app.cfg.commitInterval)))
	r.loop.Unlock()
	pctx, cancel := context.WithTimeout(ctx, max(wait, time.Millisecond))
	defer cancel()
	return r.cl.PollRecords(pctx, pollAll)
}

// step processes one poll's records, runs wall-clock punctuations, and
// commits when the commit interval has passed.
func (r *runtime) step(ctx context.Context, fetches kgo.Fetches) error {
	for _, fe := range fetches.Errors() {
		switch {
		case errors.Is(fe.Err, context.DeadlineExceeded), errors.Is(fe.Err, context.Canceled):
		case errors.Is(fe.Err, kgo.ErrClientClosed):
			return errors.New("stream: the group client closed")
		default:
			r.logger.Warn("stream: fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
	}
	if err := r.process(r.route(fetches)); err != nil {
		return err
	}
	if time.Since(r.lastCommit) >= r.app.cfg.commitInterval {
		return r.commit(ctx)
	}
	return nil
}

// commit is the one commit path (at-least-once): it waits until every
// record the tasks wrote (outputs, repartition records, changelog
// changes) is acknowledged by the cluster, then commits the offsets after
// the records processed. A failed write is fatal; a failed offset commit
// is not (the records are processed again after a rebalance). Exactly-once
// replaces this function with a transaction commit.
func (r *runtime) commit(ctx context.Context) error {
	r.lastCommit = time.Now()
	if err := r.cl.Flush(ctx); err != nil {
		return fmt.Errorf("stream: flush outputs: %w", err)
	}
	if err := r.fatalErr(); err != nil {
		return err
	}
	for _, t := range r.tasks { // all acknowledged: progress may claim it (before the offsets: it depends on the flush alone)
		if err := t.Committed(); err != nil {
			return err
		}
	}
	if len(r.offsets) == 0 {
		return nil
	}
	var cerr error
	r.cl.CommitOffsetsSync(ctx, r.offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		cerr = commitErr(resp, err)
	})
	if cerr != nil {
		r.logger.Warn("stream: offset commit failed; records since the last commit may be processed again", "app", r.app.cfg.appID, "err", cerr)
		return nil
	}
	r.offsets = map[string]map[int32]kgo.EpochOffset{}
	r.app.metrics.Add("commits", 1)
	return nil
}

func commitErr(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("%s-%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// close commits what was processed, leaves the group (whose final revoke
// closes the tasks), and stops the threads.
func (r *runtime) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	r.loop.Lock()
	err := r.commit(ctx)
	r.loop.Unlock()
	r.cl.CloseAllowingRebalance() // the final revoke commits and closes the tasks
	r.loop.Lock()
	ids := r.taskIDs() // left by a leave that did not revoke
	r.closeTasks(ids)
	r.loop.Unlock()
	r.app.taskEvent(TasksRevoked, ids)
	r.stopThreads()
	r.admCl.Close()
	r.logger.Info("stream: instance stopped", "app", r.app.cfg.appID)
	return err
}

func (r *runtime) setFatal(err error) {
	if r.fatal.CompareAndSwap(nil, &err) {
		r.logger.Error("stream: fatal error", "app", r.app.cfg.appID, "err", err)
	}
}

// fatalErr is called once per record written: it takes no lock.
func (r *runtime) fatalErr() error {
	if p := r.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// produce writes a record; a failed write is fatal (at-least-once must
// not commit past it).
func (r *runtime) produce(rec *kgo.Record) error {
	if err := r.fatalErr(); err != nil {
		return err
	}
	r.cl.Produce(context.Background(), rec, r.onProduced)
	return nil
}

func (r *runtime) produced(rec *kgo.Record, err error) {
	if err != nil {
		r.setFatal(fmt.Errorf("stream: write to %s: %w", rec.Topic, err))
		return
	}
	r.producedCount.Add(1)
}

// onAssigned restores and opens the tasks of newly assigned partitions,
// before any of their records is processed.
func (r *runtime) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	r.loop.Lock()
	defer r.loop.Unlock()
	var ids []TaskID
	for _, id := range r.tasksOf(assigned) {
		if r.tasks[id] == nil {
			ids = append(ids, id)
		}
	}
	if err := r.openTasks(ctx, ids); err != nil {
		r.setFatal(err)
		return
	}
	r.app.taskEvent(TasksAssigned, ids)
}

// onRevoked commits, then closes the tasks whose partitions moved away.
func (r *runtime) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	r.loop.Lock()
	defer r.loop.Unlock()
	ids := r.ownedTasksOf(revoked)
	if len(ids) == 0 {
		return
	}
	if err := r.commit(ctx); err != nil {
		r.setFatal(err)
	}
	r.dropOffsets(revoked)
	r.closeTasks(ids)
	r.app.taskEvent(TasksRevoked, ids)
}

// onLost closes the tasks of partitions the member lost (it was thrown
// out of the group): their offsets are not committed, since another
// member may own them already.
func (r *runtime) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	r.loop.Lock()
	defer r.loop.Unlock()
	ids := r.ownedTasksOf(lost)
	r.dropOffsets(lost)
	r.closeTasks(ids)
	r.app.taskEvent(TasksLost, ids)
}

// tasksOf maps partitions to the tasks they belong to.
func (r *runtime) tasksOf(parts map[string][]int32) []TaskID {
	seen := map[TaskID]bool{}
	var ids []TaskID
	for topic, ps := range parts {
		sub, ok := r.subOf[topic]
		if !ok {
			r.logger.Warn("stream: assigned a partition of a topic the topology does not read", "topic", topic)
			continue
		}
		for _, p := range ps {
			if id := (TaskID{Sub: sub, Partition: p}); !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func (r *runtime) ownedTasksOf(parts map[string][]int32) []TaskID {
	var ids []TaskID
	for _, id := range r.tasksOf(parts) {
		if r.tasks[id] != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func (r *runtime) taskIDs() []TaskID {
	ids := make([]TaskID, 0, len(r.tasks))
	for id := range r.tasks {
		ids = append(ids, id)
	}
	return ids
}

func (r *runtime) dropOffsets(parts map[string][]int32) {
	for topic, ps := range parts {
		for _, p := range ps {
			delete(r.offsets[topic], p)
		}
		if len(r.offsets[topic]) == 0 {
			delete(r.offsets, topic)
		}
	}
}

// closeTasks closes tasks (processors, then stores) and forgets them.
func (r *runtime) closeTasks(ids []TaskID) {
	for _, id := range ids {
		t := r.tasks[id]
		if t == nil {
			continue
		}
		if err := t.Close(); err != nil {
			r.logger.Warn("stream: close task", "task", id.String(), "err", err)
		}
		t.thread.tasks--
		delete(r.tasks, id)
	}
}
