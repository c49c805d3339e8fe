package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/stream/internal/engine"
)

// DefaultCommitInterval is how often an instance commits when
// CommitInterval is not given. Kafka Streams commits every 30 s under
// at-least-once; we take the Kafka consumer's auto-commit interval, 5 s,
// instead: a crashed instance's successor reprocesses at most about that
// much input, and a commit (a producer flush and one OffsetCommit) every
// 5 s costs nothing measurable.
const DefaultCommitInterval = 5 * time.Second

// App runs a topology against a Kafka-protocol cluster as one instance of
// an application: one consumer-group member whose tasks run on its stream
// threads. Run as many instances (processes, or Apps in one process) as
// you like with the same AppID; they share the tasks.
type App struct {
	topo    *Topology
	cfg     appConfig
	metrics engine.Metrics
	ready   chan struct{}
	started atomic.Bool

	mu struct {
		sync.Mutex
		tasks   map[TaskID]bool
		brokers []string
	}
}

// AppOption configures an App. Options are checked once, by New.
type AppOption func(*appConfig) error

type appConfig struct {
	brokers        []string
	appID          string
	threads        int
	commitInterval time.Duration
	policy         BadRecordPolicy
	logger         *slog.Logger
	dataDir        string
	embeddedListen string
	clientOpts     []kgo.Opt
	onTasks        func(TaskEvent)
}

// Brokers sets the seed brokers ("host:port").
func Brokers(addrs ...string) AppOption {
	return func(c *appConfig) error {
		if len(addrs) == 0 {
			return errors.New("stream: Brokers: no address given")
		}
		c.brokers = append(c.brokers, addrs...)
		return nil
	}
}

// AppID names the application: it is the consumer group id and the
// prefix of its internal topics. Required.
func AppID(id string) AppOption {
	return func(c *appConfig) error {
		if id == "" {
			return errors.New("stream: AppID is empty")
		}
		c.appID = id
		return nil
	}
}

// Threads sets the number of stream threads: goroutines that run the
// instance's tasks (default 1). A task always runs on one thread.
func Threads(n int) AppOption {
	return func(c *appConfig) error {
		if n < 1 {
			return fmt.Errorf("stream: Threads(%d): need at least one", n)
		}
		c.threads = n
		return nil
	}
}

// CommitInterval sets how often processed offsets are committed (after
// every output is acknowledged); default DefaultCommitInterval.
func CommitInterval(d time.Duration) AppOption {
	return func(c *appConfig) error {
		if d <= 0 {
			return fmt.Errorf("stream: CommitInterval(%v) must be positive", d)
		}
		c.commitInterval = d
		return nil
	}
}

// OnBadRecord sets what happens to input records that do not deserialize
// (default LogAndSkip).
func OnBadRecord(p BadRecordPolicy) AppOption {
	return func(c *appConfig) error { c.policy = p; return nil }
}

// Logger sets where the instance logs (default slog.Default()).
func Logger(l *slog.Logger) AppOption {
	return func(c *appConfig) error {
		if l == nil {
			return errors.New("stream: Logger is nil")
		}
		c.logger = l
		return nil
	}
}

// Embedded starts a runnel broker in the process, on a loopback port,
// with its data in dataDir, and runs the application against it: nothing
// else needs to be installed. Brokers is then not needed (and not
// allowed); App.Brokers returns the embedded broker's address once Ready.
// Missing source topics are created (4 partitions, as are topics created
// when first written), since nothing else could have created them.
func Embedded(dataDir string) AppOption {
	return func(c *appConfig) error {
		if dataDir == "" {
			return errors.New("stream: Embedded: data dir is empty")
		}
		c.dataDir = dataDir
		return nil
	}
}

// EmbeddedListen sets where the Embedded broker listens (default
// "127.0.0.1:0": a free loopback port). A fixed port lets other Kafka
// clients (kcat, say) find it run after run.
func EmbeddedListen(addr string) AppOption {
	return func(c *appConfig) error {
		if addr == "" {
			return errors.New("stream: EmbeddedListen: address is empty")
		}
		c.embeddedListen = addr
		return nil
	}
}

// ClientOptions passes options to the franz-go clients the instance makes
// (TLS, SASL, timeouts, session timeout, ...). Group options apply to the
// group member only. They are applied last, so they override the
// runtime's choices: do not override the group, topics, balancers or
// partitioner.
func ClientOptions(opts ...kgo.Opt) AppOption {
	return func(c *appConfig) error { c.clientOpts = append(c.clientOpts, opts...); return nil }
}

// TaskEventKind says what happened to tasks.
type TaskEventKind int

const (
	// TasksAssigned: the instance got tasks (after restoring their stores).
	TasksAssigned TaskEventKind = iota
	// TasksRevoked: tasks moved away in a rebalance, committed and closed.
	TasksRevoked
	// TasksLost: the instance lost its membership; tasks closed without a
	// commit.
	TasksLost
)

func (k TaskEventKind) String() string {
	switch k {
	case TasksRevoked:
		return "revoked"
	case TasksLost:
		return "lost"
	}
	return "assigned"
}

// TaskEvent is one change of an instance's tasks.
type TaskEvent struct {
	Kind  TaskEventKind
	Tasks []TaskID
}

// OnTaskEvent calls fn on every change of the instance's tasks, from the
// group-management goroutine: fn must return quickly. The same changes are
// logged at info level.
func OnTaskEvent(fn func(TaskEvent)) AppOption {
	return func(c *appConfig) error { c.onTasks = fn; return nil }
}

// New checks the options and returns an App that runs topo. Nothing
// connects until Run.
func New(topo *Topology, opts ...AppOption) (*App, error) {
	if topo == nil {
		return nil, errors.New("stream: New: topology is nil")
	}
	cfg := appConfig{threads: 1, commitInterval: DefaultCommitInterval, logger: slog.Default()}
	var errs []error
	for _, o := range opts {
		errs = append(errs, o(&cfg))
	}
	switch {
	case cfg.appID == "":
		errs = append(errs, errors.New("stream: AppID is required"))
	case cfg.dataDir == "" && len(cfg.brokers) == 0:
		errs = append(errs, errors.New("stream: give Brokers, or Embedded to run a broker in-process"))
	case cfg.dataDir != "" && len(cfg.brokers) > 0:
		errs = append(errs, errors.New("stream: Embedded and Brokers exclude each other"))
	case cfg.embeddedListen != "" && cfg.dataDir == "":
		errs = append(errs, errors.New("stream: EmbeddedListen needs Embedded"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.onTasks == nil {
		cfg.onTasks = func(TaskEvent) {}
	}
	a := &App{topo: topo, cfg: cfg, ready: make(chan struct{})}
	a.mu.tasks = map[TaskID]bool{}
	a.mu.brokers = cfg.brokers
	return a, nil
}

// Run runs the instance until ctx is done, then closes it cleanly
// (commits, closes its tasks, leaves the group) and returns nil; or until
// a fatal error (a missing source topic, a task that failed, a write that
// failed), which it returns. Run may be called once.
func (a *App) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("stream: Run called twice")
	}
	brokers := a.cfg.brokers
	if a.cfg.dataDir != "" {
		emb, err := startEmbedded(a.cfg.dataDir, cmp.Or(a.cfg.embeddedListen, "127.0.0.1:0"), a.cfg.logger)
		if err != nil {
			return err
		}
		defer emb.close(a.cfg.logger)
		brokers = []string{emb.addr()}
		a.mu.Lock()
		a.mu.brokers = brokers
		a.mu.Unlock()
	}
	r, err := newRuntime(ctx, a, brokers)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil // stopped while starting
	}
	if err != nil {
		return err
	}
	return r.run(ctx)
}

// Ready is closed once Run has set up the topics and started joining the
// group (tasks come with the first assignment, see OnTaskEvent). It is
// never closed if Run fails or stops before that: wait for Run too.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Brokers returns the seed brokers: in embedded mode, the embedded
// broker's address once Ready.
func (a *App) Brokers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.mu.brokers)
}

// Tasks returns the ids of the instance's active tasks, sorted.
func (a *App) Tasks() []TaskID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.SortedFunc(maps.Keys(a.mu.tasks), compareTasks)
}

// Metrics returns the instance's counters: the tasks' (processed-records,
// dropped-records-<reason>, deserialization-errors), the runtime's
// (produced-records, commits, restored-records, tasks-assigned,
// tasks-revoked, tasks-lost) and the gauge tasks.
func (a *App) Metrics() map[string]int64 {
	m := a.metrics.Snapshot()
	if m == nil {
		m = map[string]int64{}
	}
	a.mu.Lock()
	m["tasks"] = int64(len(a.mu.tasks))
	a.mu.Unlock()
	return m
}

// setTasks records task changes and reports them.
func (a *App) taskEvent(kind TaskEventKind, ids []TaskID) {
	if len(ids) == 0 {
		return
	}
	ids = slices.Clone(ids)
	slices.SortFunc(ids, compareTasks)
	a.mu.Lock()
	for _, id := range ids {
		if kind == TasksAssigned {
			a.mu.tasks[id] = true
		} else {
			delete(a.mu.tasks, id)
		}
	}
	a.mu.Unlock()
	a.metrics.Add("tasks-"+kind.String(), int64(len(ids)))
	a.cfg.logger.Info("stream: tasks "+kind.String(), "app", a.cfg.appID, "tasks", fmt.Sprint(ids))
	a.cfg.onTasks(TaskEvent{Kind: kind, Tasks: ids})
}

// topic returns the full name of a topic: internal topics are prefixed
// with the application id.
func (a *App) topic(name string, internal bool) string {
	if internal {
		return a.cfg.appID + "-" + name
	}
	return name
}
