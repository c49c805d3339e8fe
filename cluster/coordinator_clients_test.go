package cluster

// Consumer groups with real clients (franz-go and sarama) against a real
// broker on loopback: the membership tests of coordinator.go.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// cutDialer dials the broker until cut, then closes every connection it
// made and refuses new ones: the client is as good as dead to the broker,
// and never sends LeaveGroup.
type cutDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func (d *cutDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("cut off")
	}
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cutDialer) cutAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

// fleet is a set of group consumers on one topic, with the ownership each
// believes it has (from its assign, revoke and lost callbacks), checked
// so that no partition is ever owned by two live members at once.
type fleet struct {
	t       *testing.T
	tb      *testBroker
	group   string
	topic   string
	mu      sync.Mutex
	owner   map[int32]string // partition → member name
	dead    map[string]bool
	clients map[string]*kgo.Client
	dialers map[string]*cutDialer
}

func newFleet(t *testing.T, tb *testBroker, grp, topic string) *fleet {
	return &fleet{t: t, tb: tb, group: grp, topic: topic, owner: map[int32]string{},
		dead: map[string]bool{}, clients: map[string]*kgo.Client{}, dialers: map[string]*cutDialer{}}
}

func (f *fleet) assigned(name string, ps map[string][]int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead[name] {
		return
	}
	for _, p := range ps[f.topic] {
		if o, ok := f.owner[p]; ok && o != name {
			f.t.Errorf("partition %d assigned to %s while %s owns it", p, name, o)
		}
		f.owner[p] = name
	}
}

func (f *fleet) released(name string, ps map[string][]int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range ps[f.topic] {
		if f.owner[p] == name {
			delete(f.owner, p)
		}
	}
}

// owned returns the partitions each live member believes it owns.
func (f *fleet) owned() map[string][]int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]int32{}
	for p, o := range f.owner {
		out[o] = append(out[o], p)
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// add starts a consumer named name.
func (f *fleet) add(name string, opts ...kgo.Opt) *kgo.Client {
	d := &cutDialer{}
	base := []kgo.Opt{
		kgo.ClientID(name),
		kgo.ConsumerGroup(f.group), kgo.ConsumeTopics(f.topic),
		kgo.SessionTimeout(1500 * time.Millisecond), kgo.HeartbeatInterval(150 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Dialer(d.dial),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { f.assigned(name, ps) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { f.released(name, ps) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { f.released(name, ps) }),
	}
	cl := newClient(f.t, f.tb, append(base, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	go func() { // a consumer polls; the group is driven in the background
		for ctx.Err() == nil {
			if fs := cl.PollFetches(ctx); fs.IsClientClosed() {
				return
			}
		}
	}()
	f.mu.Lock()
	f.clients[name], f.dialers[name] = cl, d
	f.mu.Unlock()
	return cl
}

// kill cuts a member off without LeaveGroup, as a crash would.
func (f *fleet) kill(name string) {
	f.mu.Lock()
	f.dead[name] = true
	for p, o := range f.owner {
		if o == name {
			delete(f.owner, p)
		}
	}
	d := f.dialers[name]
	f.mu.Unlock()
	d.cutAll()
}

// stable is one Stable generation as DescribeGroups shows it.
type stable struct {
	generation int32
	byClient   map[string][]int32 // client id → partitions
	byInstance map[string][]int32
}

// waitStable waits until the group is Stable with n members, every
// partition of the topic assigned to exactly one of them, and every live
// member's own view agreeing with the broker's. Any Stable snapshot along
// the way that assigns a partition twice fails the test.
func (f *fleet) waitStable(n int, partitions int32) stable {
	f.t.Helper()
	adm := newAdmin(f.t, f.tb)
	var last string
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		ds, err := adm.DescribeGroups(testCtx(f.t), f.group)
		if err != nil {
			continue
		}
		d := ds[f.group]
		last = fmt.Sprintf("%s with %d members", d.State, len(d.Members))
		if d.State != "Stable" {
			continue
		}
		gen := groupGeneration(f.t, f.tb, f.group)
		s := stable{generation: gen, byClient: map[string][]int32{}, byInstance: map[string][]int32{}}
		seen := map[int32]string{}
		for _, m := range d.Members {
			var ps []int32
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range a.Topics {
					if t.Topic == f.topic {
						ps = append(ps, t.Partitions...)
					}
				}
			}
			slices.Sort(ps)
			for _, p := range ps {
				if o, dup := seen[p]; dup {
					f.t.Fatalf("generation %d assigns partition %d to %s and %s", gen, p, o, m.ClientID)
				}
				seen[p] = m.ClientID
			}
			s.byClient[m.ClientID] = ps
			if m.InstanceID != nil {
				s.byInstance[*m.InstanceID] = ps
			}
		}
		last += fmt.Sprintf(", generation %d, assigned %v, clients think %v", gen, s.byClient, f.owned())
		if len(d.Members) != n || len(seen) != int(partitions) {
			continue
		}
		if agree(s.byClient, f.owned()) {
			return s
		}
	}
	f.t.Fatalf("group %s never settled with %d members: last %s", f.group, n, last)
	return stable{}
}

// agree reports whether the clients' own views match the broker's (a
// member assigned nothing may not appear in the clients' view).
func agree(broker, clients map[string][]int32) bool {
	for name, ps := range broker {
		if !slices.Equal(ps, clients[name]) && (len(ps) > 0 || len(clients[name]) > 0) {
			return false
		}
	}
	for name := range clients {
		if _, ok := broker[name]; !ok {
			return false
		}
	}
	return true
}

func partitionsOf(m map[string][]int32) []int32 {
	var all []int32
	for _, ps := range m {
		all = append(all, ps...)
	}
	slices.Sort(all)
	return all
}

func TestGroupFranzGoEager(t *testing.T) {
	testGroupMembership(t, kgo.RangeBalancer(), "range")
}

func TestGroupFranzGoCooperative(t *testing.T) {
	testGroupMembership(t, kgo.CooperativeStickyBalancer(), "cooperative-sticky")
}

// testGroupMembership: three consumers share six partitions; a fourth
// joins and the group rebalances; one is killed without leaving and,
// after its session timeout, its partitions move to the others. No
// partition is ever owned by two members, as the broker and as the clients
// see it.
func testGroupMembership(t *testing.T, balancer kgo.GroupBalancer, protocol string) {
	tb := groupBroker(t, 300*time.Millisecond)
	createTopic(t, tb, "orders", 6, nil)
	f := newFleet(t, tb, "g-"+protocol, "orders")
	for _, name := range []string{"c1", "c2", "c3"} {
		f.add(name, kgo.Balancers(balancer))
	}
	s3 := f.waitStable(3, 6)
	for name, ps := range s3.byClient {
		if len(ps) != 2 {
			t.Fatalf("three members: %s has %v", name, ps)
		}
	}

	f.add("c4", kgo.Balancers(balancer))
	s4 := f.waitStable(4, 6)
	if s4.generation <= s3.generation || len(s4.byClient["c4"]) == 0 {
		t.Fatalf("a fourth member: generation %d → %d, c4 has %v", s3.generation, s4.generation, s4.byClient["c4"])
	}
	if protocol == "cooperative-sticky" { // members keep what does not move
		for _, name := range []string{"c1", "c2", "c3"} {
			kept := 0
			for _, p := range s4.byClient[name] {
				if slices.Contains(s3.byClient[name], p) {
					kept++
				}
			}
			if kept != len(s4.byClient[name]) {
				t.Fatalf("cooperative: %s had %v, now %v", name, s3.byClient[name], s4.byClient[name])
			}
		}
	}

	victim := "c2"
	lost := s4.byClient[victim]
	killed := time.Now()
	f.kill(victim)
	s := f.waitStable(3, 6)
	if took := time.Since(killed); took < time.Second {
		t.Fatalf("partitions moved %v after the kill, before the 1.5 s session timeout", took)
	}
	if _, ok := s.byClient[victim]; ok {
		t.Fatalf("killed member still in the group: %v", s.byClient)
	}
	if got := partitionsOf(s.byClient); len(got) != 6 {
		t.Fatalf("after the kill: %v", s.byClient)
	}
	t.Logf("%s: gen %d %v → gen %d %v → %s killed (had %v) → gen %d %v", protocol,
		s3.generation, s3.byClient, s4.generation, s4.byClient, victim, lost, s.generation, s.byClient)

	logs := tb.logs.String()
	for _, want := range []string{
		"group rebalance started", "cause=join", "cause=session-expiry", "group rebalanced",
		"before=", "orders:", "protocol=" + protocol,
	} {
		if !strings.Contains(logs, want) {
			t.Fatalf("broker log lacks %q:\n%s", want, logs)
		}
	}
}

// TestGroupMoreMembersThanPartitions: the extra members get nothing, and
// the group stays Stable with them.
func TestGroupMoreMembersThanPartitions(t *testing.T) {
	tb := groupBroker(t, 300*time.Millisecond)
	createTopic(t, tb, "small", 2, nil)
	f := newFleet(t, tb, "crowd", "small")
	for i := range 5 {
		f.add(fmt.Sprintf("m%d", i), kgo.Balancers(kgo.RangeBalancer()))
	}
	s := f.waitStable(5, 2)
	idle := 0
	for _, ps := range s.byClient {
		switch len(ps) {
		case 0:
			idle++
		case 1:
		default:
			t.Fatalf("a member has %v", ps)
		}
	}
	if idle != 3 {
		t.Fatalf("%d idle members, want 3: %v", idle, s.byClient)
	}
	time.Sleep(2 * time.Second) // idle members heartbeat on; nothing changes
	if gen := groupGeneration(t, tb, "crowd"); gen != s.generation {
		t.Fatalf("generation moved %d → %d with no change", s.generation, gen)
	}
}

// TestGroupStaticMembership: a static member (group.instance.id) that
// restarts within its session timeout gets its partitions back with no
// rebalance: the generation and everyone's assignment are unchanged.
func TestGroupStaticMembership(t *testing.T) {
	tb := groupBroker(t, 300*time.Millisecond)
	createTopic(t, tb, "orders", 6, nil)
	f := newFleet(t, tb, "static", "orders")
	static := func(id string) []kgo.Opt {
		return []kgo.Opt{kgo.InstanceID(id), kgo.SessionTimeout(10 * time.Second), kgo.Balancers(kgo.RangeBalancer())}
	}
	for _, name := range []string{"s1", "s2", "s3"} {
		f.add(name, static(name)...)
	}
	before := f.waitStable(3, 6)
	rebalances := strings.Count(tb.logs.String(), "group rebalance started")

	// s2 stops (a static member does not leave the group) and a new
	// process with the same instance id starts.
	f.clients["s2"].Close()
	f.add("s2", static("s2")...)
	after := f.waitStable(3, 6)
	if after.generation != before.generation {
		t.Fatalf("generation %d → %d: the restart rebalanced", before.generation, after.generation)
	}
	if !reflect.DeepEqual(after.byInstance, before.byInstance) {
		t.Fatalf("assignment changed: %v → %v", before.byInstance, after.byInstance)
	}
	logs := tb.logs.String()
	if n := strings.Count(logs, "group rebalance started"); n != rebalances {
		t.Fatalf("%d rebalances started after the restart", n-rebalances)
	}
	if !strings.Contains(logs, "group static member replaced") || !strings.Contains(logs, "rebalance=false") {
		t.Fatalf("no static replacement logged:\n%s", logs)
	}
}

// saramaHandler records the partitions sarama's session claims.
type saramaHandler struct {
	mu     sync.Mutex
	claims map[string][]int32
	gen    int32
	ready  chan struct{}
	once   sync.Once
}

func (h *saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	h.claims, h.gen = s.Claims(), s.GenerationID()
	h.mu.Unlock()
	h.once.Do(func() { close(h.ready) })
	return nil
}

func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case _, ok := <-c.Messages():
			if !ok {
				return nil
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

// TestGroupSaramaWithFranzGo: sarama's consumer group and a franz-go
// consumer share one group ("consumer" protocol, range assignor); each
// gets its half and together they cover the topic.
func TestGroupSaramaWithFranzGo(t *testing.T) {
	tb := groupBroker(t, 300*time.Millisecond)
	createTopic(t, tb, "mixed", 4, nil)
	f := newFleet(t, tb, "mixed", "mixed")
	f.add("franz", kgo.Balancers(kgo.RangeBalancer()))
	f.waitStable(1, 4)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "sarama"
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cg, err := sarama.NewConsumerGroup([]string{tb.addr()}, "mixed", cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &saramaHandler{ready: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{"mixed"}, h); err != nil && ctx.Err() == nil {
				t.Logf("sarama consume: %v", err)
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cg.Close() })

	// The broker sees two members; franz-go's own view covers only its
	// half, so compare the broker's assignment with sarama's claims.
	adm := newAdmin(t, tb)
	var franz, sar []int32
	waitFor(t, "a stable group of franz-go and sarama", func() bool {
		ds, err := adm.DescribeGroups(testCtx(t), "mixed")
		if err != nil || ds["mixed"].State != "Stable" || len(ds["mixed"].Members) != 2 {
			return false
		}
		franz, sar = nil, nil
		for _, m := range ds["mixed"].Members {
			a, ok := m.Assigned.AsConsumer()
			if !ok {
				return false
			}
			for _, tp := range a.Topics {
				if m.ClientID == "sarama" {
					sar = append(sar, tp.Partitions...)
				} else {
					franz = append(franz, tp.Partitions...)
				}
			}
		}
		h.mu.Lock()
		claimed := slices.Clone(h.claims["mixed"])
		h.mu.Unlock()
		slices.Sort(franz)
		slices.Sort(sar)
		slices.Sort(claimed)
		return len(franz) == 2 && len(sar) == 2 && slices.Equal(claimed, sar) && slices.Equal(f.owned()["franz"], franz)
	})
	all := append(slices.Clone(franz), sar...)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if !slices.Equal(all, []int32{0, 1, 2, 3}) {
		t.Fatalf("franz-go %v, sarama %v", franz, sar)
	}
}
