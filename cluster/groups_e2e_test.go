package cluster_test

// End-to-end consumer-group tests (issue 4's "Must show"): real franz-go
// group consumers against a real broker on loopback — in-process, or the
// built binary where a SIGKILL must be a real crash. Each group's members
// consume, commit after every batch, and are checked throughout:
//
//   - every acknowledged record is consumed at least once;
//   - no partition is owned by two members in the same generation, as the
//     clients see it (their assign, revoke and lost callbacks, with the
//     generation the client holds) and as the broker does (every Stable
//     DescribeGroups snapshot);
//   - committed offsets never move backwards (OffsetFetch, polled);
//   - a group stopped and started again resumes exactly at its committed
//     offsets.
//
// Run with -v to see each rebalance the broker logged (cause, and who owned
// what before and after): cluster/group/README.md's worked example is
// taken from TestGroupsE2EEagerRange and TestGroupsE2ECooperativeSticky.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-io/runnel/cluster"
	"github.com/runnel-io/runnel/cluster/clustertest"
)

const (
	e2eSession   = 6 * time.Second // the broker's group.min.session.timeout.ms
	e2eHeartbeat = 500 * time.Millisecond
	e2eWait      = 45 * time.Second // bound on every wait for the group
)

// e2eBroker starts an in-process broker on a loopback port, logging at
// info level (every rebalance) into the returned sink.
func e2eBroker(t *testing.T) (addr string, logs *clustertest.Logs) {
	t.Helper()
	b := clustertest.Start(t, func(cfg *cluster.Config) {
		cfg.OffsetsTopicNumPartitions = 3
		cfg.GroupInitialRebalanceDelay = 200 * time.Millisecond
		cfg.GroupMinSessionTimeout = cluster.DefaultConfig().GroupMinSessionTimeout
	})
	return b.Addr().String(), b.Logs
}

func e2eAdmin(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func e2eCreateTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e2eAdmin(t, addr).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
}

// e2eProducer produces to every partition of a topic until halted, and
// keeps each partition's acknowledged end offset (acks=all).
type e2eProducer struct {
	t    *testing.T
	cl   *kgo.Client
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	ends map[int32]int64
	errs []error
}

func e2eStartProducer(t *testing.T, addr, topic string) *e2eProducer {
	t.Helper()
	p := &e2eProducer{stop: make(chan struct{}), done: make(chan struct{}), ends: map[int32]int64{}}
	var err error
	p.cl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.halt(); p.cl.Close() })
	p.t = t
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			recs := make([]*kgo.Record, 12)
			for j := range recs {
				recs[j] = &kgo.Record{Value: fmt.Appendf(nil, "v%d-%d", i, j)}
			}
			p.add(p.cl.ProduceSync(context.Background(), recs...))
		}
	}()
	return p
}

// e2eProduceN produces n records to every partition and returns the
// acknowledged ends.
func e2eProduceN(t *testing.T, addr, topic string, partitions int32, n int) map[int32]int64 {
	t.Helper()
	p := &e2eProducer{ends: map[int32]int64{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for part := range partitions {
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: part, Value: fmt.Appendf(nil, "p%d-%d", part, i)})
		}
	}
	p.add(cl.ProduceSync(context.Background(), recs...))
	if len(p.errs) > 0 {
		t.Fatalf("produce: %v", p.errs[0])
	}
	return p.ends
}

func (p *e2eProducer) add(rs kgo.ProduceResults) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rs {
		if r.Err != nil {
			p.errs = append(p.errs, r.Err)
			continue
		}
		p.ends[r.Record.Partition] = max(p.ends[r.Record.Partition], r.Record.Offset+1)
	}
}

// halt stops producing (idempotent) and returns the acknowledged ends; it
// fails the test if any record was refused.
func (p *e2eProducer) halt() map[int32]int64 {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) > 0 {
		p.t.Errorf("%d records refused, first: %v", len(p.errs), p.errs[0])
		p.errs = nil
	}
	return maps.Clone(p.ends)
}

// e2eDialer dials until cut; then it closes every connection it made and
// refuses new ones: the member stops heartbeating and never sends
// LeaveGroup, as if its process died.
type e2eDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func (d *e2eDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("e2e: member killed")
	}
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *e2eDialer) cutAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

// e2eMember is one group consumer.
type e2eMember struct {
	name string
	cl   *kgo.Client
	dial *e2eDialer
	// proc is held while a poll's records are recorded and committed, so
	// that a kill falls between batches: whatever the member committed,
	// it had recorded.
	proc sync.Mutex
	done chan struct{}

	// Guarded by the group's mu.
	dead   bool
	owned  map[int32]bool
	polled int
}

// e2eGroup is one consumer group on one topic, and its checks.
type e2eGroup struct {
	t          *testing.T
	addr       string
	group      string
	topic      string
	partitions int32
	opts       []kgo.Opt     // extra member options: the balancer
	pace       time.Duration // pause after each batch
	maxPoll    int
	adm        *kadm.Client
	stop       chan struct{}
	stopped    chan struct{}

	mu        sync.Mutex
	members   map[string]*e2eMember
	consumed  map[int32]map[int64]bool
	since     map[int32]int64            // first offset read per partition since markResume
	genOwner  map[int32]map[int32]string // generation → partition → member
	committed map[int32]int64            // highest committed offset seen per partition
	snapshots []string                   // distinct Stable assignments the broker showed
	problems  []string
}

func newE2EGroup(t *testing.T, addr, group, topic string, partitions int32, opts ...kgo.Opt) *e2eGroup {
	g := &e2eGroup{t: t, addr: addr, group: group, topic: topic, partitions: partitions, opts: opts,
		maxPoll: 100, adm: e2eAdmin(t, addr), stop: make(chan struct{}), stopped: make(chan struct{}),
		members: map[string]*e2eMember{}, consumed: map[int32]map[int64]bool{},
		genOwner: map[int32]map[int32]string{}, committed: map[int32]int64{}}
	go g.watch()
	t.Cleanup(g.shutdown)
	return g
}

// problem records a broken invariant; the test fails at finish.
func (g *e2eGroup) problemLocked(format string, args ...any) {
	if len(g.problems) < 20 {
		g.problems = append(g.problems, fmt.Sprintf(format, args...))
	}
}

// add starts a member named name (its client id).
func (g *e2eGroup) add(name string) *e2eMember {
	g.t.Helper()
	m := &e2eMember{name: name, dial: &e2eDialer{}, owned: map[int32]bool{}, done: make(chan struct{})}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(g.addr), kgo.ClientID(name),
		kgo.ConsumerGroup(g.group), kgo.ConsumeTopics(g.topic),
		kgo.SessionTimeout(e2eSession), kgo.HeartbeatInterval(e2eHeartbeat), kgo.RebalanceTimeout(20 * time.Second),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Dialer(m.dial.dial),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, ps map[string][]int32) {
			g.changed(cl, m, ps[g.topic], true)
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
			g.mu.Lock()
			dead := m.dead
			g.mu.Unlock()
			if !dead { // commit what was read before giving the partitions up
				cl.CommitUncommittedOffsets(ctx)
			}
			g.changed(cl, m, ps[g.topic], false)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, cl *kgo.Client, ps map[string][]int32) {
			g.changed(cl, m, ps[g.topic], false)
		}),
	}, g.opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		g.t.Fatal(err)
	}
	m.cl = cl
	g.mu.Lock()
	g.members[name] = m
	g.mu.Unlock()
	go g.consume(m)
	return m
}

// consume polls, records and commits after every batch until the client
// closes.
func (g *e2eGroup) consume(m *e2eMember) {
	defer close(m.done)
	for {
		fs := m.cl.PollRecords(context.Background(), g.maxPoll)
		if fs.IsClientClosed() {
			return
		}
		m.proc.Lock()
		g.mu.Lock()
		dead := m.dead
		if !dead {
			fs.EachRecord(func(r *kgo.Record) { g.recordLocked(m, r) })
			g.noteLocked(m.cl, m)
		}
		g.mu.Unlock()
		if !dead && !fs.Empty() {
			time.Sleep(g.pace)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := m.cl.CommitUncommittedOffsets(ctx); err != nil { // re-read, not lost
				g.t.Logf("%s: commit: %v", m.name, err)
			}
			cancel()
		}
		m.proc.Unlock()
		m.cl.AllowRebalance()
	}
}

func (g *e2eGroup) recordLocked(m *e2eMember, r *kgo.Record) {
	if r.Topic != g.topic {
		return
	}
	if !m.owned[r.Partition] {
		g.problemLocked("%s read %d/%d, a partition it does not own (owns %v)", m.name, r.Partition, r.Offset, slices.Sorted(maps.Keys(m.owned)))
	}
	if g.consumed[r.Partition] == nil {
		g.consumed[r.Partition] = map[int64]bool{}
	}
	g.consumed[r.Partition][r.Offset] = true
	m.polled++
	if g.since != nil {
		if first, ok := g.since[r.Partition]; !ok || r.Offset < first {
			g.since[r.Partition] = r.Offset
		}
	}
}

// changed applies an assign (add) or a revoke or loss to m's partitions.
func (g *e2eGroup) changed(cl *kgo.Client, m *e2eMember, ps []int32, add bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range ps {
		if add {
			m.owned[p] = true
		} else {
			delete(m.owned, p)
		}
	}
	g.noteLocked(cl, m)
}

// noteLocked records what m owns in the generation its client is in, and
// flags a partition another member owns in the same generation.
func (g *e2eGroup) noteLocked(cl *kgo.Client, m *e2eMember) {
	_, gen := cl.GroupMetadata()
	if m.dead || gen < 0 {
		return
	}
	own := g.genOwner[gen]
	if own == nil {
		own = map[int32]string{}
		g.genOwner[gen] = own
	}
	for p := range m.owned {
		if o, ok := own[p]; ok && o != m.name {
			g.problemLocked("generation %d: partition %d owned by %s and by %s", gen, p, o, m.name)
		}
		own[p] = m.name
	}
}

// watch polls the broker until shutdown: committed offsets must never move
// back, and no Stable assignment may give a partition to two members.
func (g *e2eGroup) watch() {
	defer close(g.stopped)
	for {
		select {
		case <-g.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		offs, err := g.adm.FetchOffsets(ctx, g.group)
		if err == nil {
			g.mu.Lock()
			for p, o := range offs[g.topic] {
				if o.Err == nil && o.At < g.committed[p] {
					g.problemLocked("committed offset of partition %d moved back from %d to %d", p, g.committed[p], o.At)
				}
				if o.Err == nil {
					g.committed[p] = max(g.committed[p], o.At)
				}
			}
			g.mu.Unlock()
		}
		if d, err := g.describe(ctx); err == nil && d.State == "Stable" {
			g.checkStable(d)
		}
		cancel()
	}
}

func (g *e2eGroup) describe(ctx context.Context) (kadm.DescribedGroup, error) {
	ds, err := g.adm.DescribeGroups(ctx, g.group)
	if err != nil {
		return kadm.DescribedGroup{}, err
	}
	d := ds[g.group]
	return d, d.Err
}

// assignment is a Stable group's partitions by client id.
func (g *e2eGroup) assignment(d kadm.DescribedGroup) map[string][]int32 {
	out := map[string][]int32{}
	for _, m := range d.Members {
		ps := []int32{}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				if t.Topic == g.topic {
					ps = append(ps, t.Partitions...)
				}
			}
		}
		slices.Sort(ps)
		out[m.ClientID] = ps
	}
	return out
}

func (g *e2eGroup) checkStable(d kadm.DescribedGroup) {
	a := g.assignment(d)
	owner := map[int32]string{}
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, ps := range a {
		for _, p := range ps {
			if o, dup := owner[p]; dup {
				g.problemLocked("broker: a Stable assignment gives partition %d to %s and %s: %v", p, o, name, a)
			}
			owner[p] = name
		}
	}
	s := fmt.Sprint(a)
	if len(g.snapshots) == 0 || g.snapshots[len(g.snapshots)-1] != s {
		g.snapshots = append(g.snapshots, s)
	}
}

// waitStable waits until the group is Stable with exactly the named
// members, every partition assigned, and each member's own view equal to
// the broker's. It returns the assignment.
func (g *e2eGroup) waitStable(names ...string) map[string][]int32 {
	g.t.Helper()
	slices.Sort(names)
	var last string
	deadline := time.Now().Add(e2eWait)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		d, err := g.describe(ctx)
		cancel()
		if err != nil {
			last = err.Error()
			continue
		}
		a := g.assignment(d)
		last = fmt.Sprintf("%s %v, clients %v", d.State, a, g.clientViews())
		if d.State != "Stable" || !slices.Equal(slices.Sorted(maps.Keys(a)), names) {
			continue
		}
		n := 0
		for _, ps := range a {
			n += len(ps)
		}
		if n == int(g.partitions) && fmt.Sprint(a) == fmt.Sprint(g.clientViews()) {
			return a
		}
	}
	g.t.Fatalf("group %s never became Stable with %v: last %s", g.group, names, last)
	return nil
}

// clientViews is what each live member believes it owns.
func (g *e2eGroup) clientViews() map[string][]int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string][]int32{}
	for name, m := range g.members {
		if !m.dead && m.cl != nil {
			out[name] = slices.Sorted(maps.Keys(m.owned))
			if out[name] == nil {
				out[name] = []int32{}
			}
		}
	}
	return out
}

func (g *e2eGroup) waitState(state string) {
	g.t.Helper()
	e2eWaitFor(g.t, "group "+g.group+" to be "+state, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		d, err := g.describe(ctx)
		return err == nil && d.State == state
	})
}

// leave closes a member: franz-go revokes its partitions (the callback
// commits) and sends LeaveGroup.
func (g *e2eGroup) leave(name string) {
	g.mu.Lock()
	m := g.members[name]
	delete(g.members, name)
	g.mu.Unlock()
	m.cl.Close()
	<-m.done
}

// kill cuts a member off between two batches: it stops heartbeating and
// never leaves; the broker must notice by its session timeout.
func (g *e2eGroup) kill(name string) {
	g.mu.Lock()
	m := g.members[name]
	g.mu.Unlock()
	m.proc.Lock()
	g.mu.Lock()
	m.dead = true
	g.mu.Unlock()
	m.dial.cutAll()
	m.proc.Unlock()
}

// markResume starts recording the first offset read per partition.
func (g *e2eGroup) markResume() {
	g.mu.Lock()
	g.since = map[int32]int64{}
	g.mu.Unlock()
}

// checkResumed: since markResume, every partition with records past its
// committed offset was first read exactly there: nothing skipped, nothing
// before it re-read.
func (g *e2eGroup) checkResumed(committed, ends map[int32]int64) {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for p := range g.partitions {
		first, read := g.since[p]
		if want := committed[p]; want < ends[p] && (!read || first != want) {
			g.t.Errorf("partition %d: resumed at %d (read: %v), committed %d", p, first, read, want)
		}
	}
	g.t.Logf("restarted group resumed at the committed offsets %v", committed)
}

// committedNow fetches the group's committed offsets.
func (g *e2eGroup) committedNow() map[int32]int64 {
	g.t.Helper()
	offs, err := g.adm.FetchOffsets(context.Background(), g.group)
	if err != nil {
		g.t.Fatal(err)
	}
	out := map[int32]int64{}
	for p, o := range offs[g.topic] {
		out[p] = o.At
	}
	return out
}

// waitConsumed waits until every offset below ends was read.
func (g *e2eGroup) waitConsumed(ends map[int32]int64) {
	g.t.Helper()
	missing := ""
	deadline := time.Now().Add(e2eWait)
	for time.Now().Before(deadline) {
		if missing = g.missing(ends); missing == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	g.t.Fatalf("group %s: acknowledged records never consumed: %s", g.group, missing)
}

func (g *e2eGroup) missing(ends map[int32]int64) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var b strings.Builder
	for p := range g.partitions {
		n := 0
		for o := int64(0); o < ends[p]; o++ {
			if !g.consumed[p][o] {
				n++
			}
		}
		if n > 0 {
			fmt.Fprintf(&b, "partition %d: %d of %d; ", p, n, ends[p])
		}
	}
	return b.String()
}

func (g *e2eGroup) polled(name string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.members[name].polled
}

func (g *e2eGroup) totalConsumed() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, os := range g.consumed {
		n += len(os)
	}
	return n
}

// finish stops the watcher and fails the test on any broken invariant.
func (g *e2eGroup) finish() {
	g.t.Helper()
	g.shutdown()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range g.problems {
		g.t.Error(p)
	}
	g.t.Logf("group %s: %d generations seen by clients, %d distinct Stable assignments seen by the broker",
		g.group, len(g.genOwner), len(g.snapshots))
}

// shutdown closes every member still running and stops the watcher
// (idempotent). A killed member's Close does not wait for its LeaveGroup.
func (g *e2eGroup) shutdown() {
	g.mu.Lock()
	ms := slices.Collect(maps.Values(g.members))
	g.members = map[string]*e2eMember{}
	g.mu.Unlock()
	for _, m := range ms {
		if m.dead {
			go m.cl.Close()
			continue
		}
		m.cl.Close()
		<-m.done
	}
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.stopped
}

func e2eWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var e2eMemberUUID = regexp.MustCompile(`-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// e2eRebalanceLog returns the broker's info-level group lines about group,
// member ids shortened to their client ids.
func e2eRebalanceLog(logs, group string) string {
	var b strings.Builder
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "group="+group+" ") && strings.Contains(line, `msg="group `) {
			line = e2eMemberUUID.ReplaceAllString(line, "")
			if i := strings.Index(line, "level="); i >= 0 {
				line = line[i:]
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func TestGroupsE2EEagerRange(t *testing.T) {
	testGroupsE2EMembership(t, kgo.RangeBalancer(), "range")
}

func TestGroupsE2ECooperativeSticky(t *testing.T) {
	testGroupsE2EMembership(t, kgo.CooperativeStickyBalancer(), "cooperative-sticky")
}

// testGroupsE2EMembership: three members read a six-partition topic while
// a producer keeps writing; a fourth joins, one leaves, one is killed
// (stops heartbeating, never leaves). The group is then stopped (every
// member leaves) and restarted with new members, which resume at the
// committed offsets. The producer stops; everything it had acknowledged
// must have been read.
func testGroupsE2EMembership(t *testing.T, balancer kgo.GroupBalancer, protocol string) {
	addr, logs := e2eBroker(t)
	const topic, partitions = "events", 6
	e2eCreateTopic(t, addr, topic, partitions)
	prod := e2eStartProducer(t, addr, topic)
	g := newE2EGroup(t, addr, "app-"+protocol, topic, partitions, kgo.Balancers(balancer))

	for _, name := range []string{"c1", "c2", "c3"} {
		g.add(name)
	}
	s3 := g.waitStable("c1", "c2", "c3")
	e2eWaitFor(t, "every member to read", func() bool { return g.polled("c1") > 0 && g.polled("c2") > 0 && g.polled("c3") > 0 })

	g.add("c4")
	s4 := g.waitStable("c1", "c2", "c3", "c4")
	if protocol == "cooperative-sticky" {
		// Incremental: the old members only gave partitions up.
		for _, name := range []string{"c1", "c2", "c3"} {
			for _, p := range s4[name] {
				if !slices.Contains(s3[name], p) {
					t.Errorf("cooperative-sticky: %s had %v, then %v", name, s3[name], s4[name])
				}
			}
		}
	}

	g.leave("c1")
	g.waitStable("c2", "c3", "c4")

	killed := time.Now()
	g.kill("c2")
	g.waitStable("c3", "c4")
	if took := time.Since(killed); took < e2eSession-time.Second {
		t.Errorf("the killed member's partitions moved after %v, before its %v session timeout", took, e2eSession)
	}

	// Stop the group; start it again with new members.
	g.leave("c3")
	g.leave("c4")
	g.waitState("Empty")
	resume := g.committedNow()
	g.markResume()
	g.add("c5")
	g.add("c6")
	g.waitStable("c5", "c6")

	ends := prod.halt()
	g.waitConsumed(ends)
	g.checkResumed(resume, ends)
	g.leave("c5")
	g.leave("c6")
	g.waitState("Empty")
	if got := g.committedNow(); fmt.Sprint(got) != fmt.Sprint(ends) {
		t.Errorf("after reading everything the group committed %v, the ends are %v", got, ends)
	}
	g.finish()
	total := 0
	for _, e := range ends {
		total += int(e)
	}
	t.Logf("%s: %d acknowledged records, all consumed; rebalances as the broker logged them:\n%s",
		protocol, total, e2eRebalanceLog(logs.String(), g.group))
	for _, want := range []string{"cause=join", "cause=leave", "cause=session-expiry", "protocol=" + protocol} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("broker log lacks %q", want)
		}
	}
}

// TestGroupsE2EBroadcast: two groups on one topic each read every record;
// one of two members, the other of one.
func TestGroupsE2EBroadcast(t *testing.T) {
	addr, _ := e2eBroker(t)
	const topic, partitions = "news", 3
	e2eCreateTopic(t, addr, topic, partitions)
	ends := e2eProduceN(t, addr, topic, partitions, 100)
	a := newE2EGroup(t, addr, "readers-a", topic, partitions, kgo.Balancers(kgo.RangeBalancer()))
	b := newE2EGroup(t, addr, "readers-b", topic, partitions, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	a.add("a1")
	a.add("a2")
	b.add("b1")
	a.waitStable("a1", "a2")
	b.waitStable("b1")
	a.waitConsumed(ends)
	b.waitConsumed(ends)
	for _, g := range []*e2eGroup{a, b} {
		if n := g.totalConsumed(); n != 3*100 {
			t.Errorf("group %s read %d distinct records, want 300", g.group, n)
		}
		e2eWaitFor(t, g.group+"'s commits", func() bool { return fmt.Sprint(g.committedNow()) == fmt.Sprint(ends) })
		g.finish()
	}
}

// TestGroupsE2EMoreMembersThanPartitions: four members, two partitions:
// two members get one each, two get nothing and read nothing; the group
// stays Stable while records flow.
func TestGroupsE2EMoreMembersThanPartitions(t *testing.T) {
	addr, logs := e2eBroker(t)
	const topic, partitions = "narrow", 2
	e2eCreateTopic(t, addr, topic, partitions)
	g := newE2EGroup(t, addr, "crowd", topic, partitions, kgo.Balancers(kgo.RangeBalancer()))
	names := []string{"m1", "m2", "m3", "m4"}
	for _, n := range names {
		g.add(n)
	}
	a := g.waitStable(names...)
	rebalances := strings.Count(logs.String(), `msg="group rebalanced"`)
	ends := e2eProduceN(t, addr, topic, partitions, 200)
	g.waitConsumed(ends)
	time.Sleep(3 * e2eHeartbeat) // idle members heartbeat on
	idle := 0
	for _, n := range names {
		switch len(a[n]) {
		case 0:
			idle++
			if got := g.polled(n); got != 0 {
				t.Errorf("%s has no partition but read %d records", n, got)
			}
		case 1:
			if got := g.polled(n); got != 200 {
				t.Errorf("%s owns %v and read %d records, want 200", n, a[n], got)
			}
		default:
			t.Errorf("%s has %v", n, a[n])
		}
	}
	if idle != 2 {
		t.Errorf("%d idle members, want 2: %v", idle, a)
	}
	if n := strings.Count(logs.String(), `msg="group rebalanced"`); n != rebalances {
		t.Errorf("%d rebalances while nothing changed", n-rebalances)
	}
	g.finish()
}

// TestGroupsE2EBrokerSIGKILL: the broker binary is SIGKILLed while a group
// of two reads and commits. After the restart (same port, same data) the
// group is Stable again with the same members, no acknowledged commit is
// lost (committed offsets never move back) and reading goes on. Then the
// group stops, the broker is killed again, and a new member resumes at the
// offsets the restarted broker rebuilt from __consumer_offsets.
func TestGroupsE2EBrokerSIGKILL(t *testing.T) {
	bin := buildRunnel(t)
	dir := t.TempDir()
	p := startProc(t, bin, dir, "127.0.0.1:0")
	addr := p.addr
	const topic, partitions = "ledger", 4
	e2eCreateTopic(t, addr, topic, partitions)
	ends := e2eProduceN(t, addr, topic, partitions, 750)
	g := newE2EGroup(t, addr, "survivors", topic, partitions, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	g.maxPoll, g.pace = 10, 20*time.Millisecond // slow readers: the kill lands mid-way

	g.add("c1")
	g.add("c2")
	g.waitStable("c1", "c2")
	e2eWaitFor(t, "800 records read", func() bool { return g.totalConsumed() >= 800 })
	before := g.committedNow()
	p.kill(t)
	p = startProc(t, bin, dir, addr)
	g.waitStable("c1", "c2")
	after := g.committedNow()
	for part, o := range before {
		if after[part] < o {
			t.Errorf("partition %d: committed %d before the SIGKILL, %d after", part, o, after[part])
		}
	}
	e2eWaitFor(t, "2000 records read", func() bool { return g.totalConsumed() >= 2000 })

	g.leave("c1")
	g.leave("c2")
	g.waitState("Empty")
	resume := g.committedNow()
	p.kill(t)
	startProc(t, bin, dir, addr)
	if got := g.committedNow(); fmt.Sprint(got) != fmt.Sprint(resume) {
		t.Fatalf("committed %v before the second SIGKILL, %v after", resume, got)
	}
	g.markResume()
	g.add("c3")
	g.waitStable("c3")
	g.waitConsumed(ends)
	g.checkResumed(resume, ends)
	g.finish()
	t.Logf("committed before the first kill %v, after the restart %v; resumed after the second at %v", before, after, resume)
}

// TestGroupsE2EBadInput: against a live franz-go group, commits for an
// unknown topic or partition, from a stale generation, from an unknown
// member or outside the group protocol get the error Kafka gives and change
// nothing; heartbeats from a stale generation or an unknown member, and
// joins with no protocol, no shared protocol or oversized metadata, are
// refused without disturbing the group.
func TestGroupsE2EBadInput(t *testing.T) {
	addr, logs := e2eBroker(t)
	const topic, partitions = "strict", 2
	e2eCreateTopic(t, addr, topic, partitions)
	ends := e2eProduceN(t, addr, topic, partitions, 10)
	g := newE2EGroup(t, addr, "strict-group", topic, partitions, kgo.Balancers(kgo.RangeBalancer()))
	m := g.add("m1")
	g.waitStable("m1")
	g.waitConsumed(ends)
	e2eWaitFor(t, "the member's commits", func() bool { return fmt.Sprint(g.committedNow()) == fmt.Sprint(ends) })
	member, gen := m.cl.GroupMetadata()
	rebalances := strings.Count(logs.String(), `msg="group rebalance started"`)

	raw, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		what      string
		member    string
		gen       int32
		topic     string
		partition int32
		want      *kerr.Error
	}{
		{"unknown topic", member, gen, "no-such-topic", 0, kerr.UnknownTopicOrPartition},
		{"unknown partition", member, gen, topic, 7, kerr.UnknownTopicOrPartition},
		{"older generation", member, gen - 1, topic, 0, kerr.IllegalGeneration},
		{"newer generation", member, gen + 1, topic, 0, kerr.IllegalGeneration},
		{"unknown member", "stranger", gen, topic, 0, kerr.UnknownMemberID},
		{"simple commit to a live group", "", -1, topic, 0, kerr.UnknownMemberID},
	} {
		if got := e2eCommit(ctx, t, raw, g.group, c.member, c.gen, c.topic, c.partition); got != c.want {
			t.Errorf("commit, %s: %v, want %v", c.what, got, c.want)
		}
		if got := g.committedNow(); fmt.Sprint(got) != fmt.Sprint(ends) {
			t.Fatalf("commit, %s: committed offsets changed to %v", c.what, got)
		}
	}
	for _, c := range []struct {
		what   string
		member string
		gen    int32
		want   *kerr.Error
	}{
		{"older generation", member, gen - 1, kerr.IllegalGeneration},
		{"unknown member", "stranger", gen, kerr.UnknownMemberID},
	} {
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation = g.group, c.member, c.gen
		resp, err := req.RequestWith(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := kerr.ErrorForCode(resp.ErrorCode); got != c.want {
			t.Errorf("heartbeat, %s: %v, want %v", c.what, got, c.want)
		}
	}
	for _, c := range []struct {
		what      string
		protocols []kmsg.JoinGroupRequestProtocol
		want      *kerr.Error
	}{
		{"no protocols", nil, kerr.InconsistentGroupProtocol},
		{"no shared protocol", []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin", Metadata: []byte{0, 0}}}, kerr.InconsistentGroupProtocol},
		{"oversized metadata", []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: make([]byte, 1<<20+1)}}, kerr.InvalidRequest},
	} {
		if got := e2eJoin(ctx, t, raw, g.group, c.protocols); got != c.want {
			t.Errorf("join, %s: %v, want %v", c.what, got, c.want)
		}
	}

	// The group never noticed: same member, same generation, no rebalance,
	// and it still reads.
	if m2, gen2 := m.cl.GroupMetadata(); m2 != member || gen2 != gen {
		t.Errorf("member %s generation %d became %s generation %d", member, gen, m2, gen2)
	}
	if n := strings.Count(logs.String(), `msg="group rebalance started"`); n != rebalances {
		t.Errorf("bad input started %d rebalances", n-rebalances)
	}
	g.waitConsumed(e2eProduceN(t, addr, topic, partitions, 5))
	g.finish()
}

// e2eCommit commits offset 3 of one partition as member of generation gen,
// and returns the partition's error.
func e2eCommit(ctx context.Context, t *testing.T, cl *kgo.Client, group, member string, gen int32, topic string, partition int32) *kerr.Error {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, 3
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	e, _ := err.(*kerr.Error)
	return e
}

// e2eJoin sends a JoinGroup as a new member of the consumer protocol type
// and returns its error; a MEMBER_ID_REQUIRED answer (KIP-394) is followed
// by a second join with the member id given.
func e2eJoin(ctx context.Context, t *testing.T, cl *kgo.Client, group string, protocols []kmsg.JoinGroupRequestProtocol) *kerr.Error {
	t.Helper()
	member := ""
	for range 2 {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = group, member, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = int32(e2eSession.Milliseconds()), 10000
		req.Protocols = protocols
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("join: %v", err)
		}
		err = kerr.ErrorForCode(resp.ErrorCode)
		if err != kerr.MemberIDRequired {
			e, _ := err.(*kerr.Error)
			return e
		}
		member = resp.MemberID
	}
	return kerr.MemberIDRequired
}
