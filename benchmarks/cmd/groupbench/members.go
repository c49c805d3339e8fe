package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Request keys a member's coordinator hears from it: any of them may
// restart its session timer.
const (
	keyOffsetCommit = 8
	keyJoinGroup    = 11
	keyHeartbeat    = 12
	keySyncGroup    = 14
)

// member is one group member: a kgo consumer in this process whose
// connections can be cut at once (kill) and whose heartbeats are watched.
//
// Threading: kill and close may be called from any goroutine, once each.
type member struct {
	index  int
	cl     *kgo.Client
	ctx    context.Context
	cancel context.CancelFunc
	polled chan struct{} // closed when the poll loop ends

	killed    atomic.Bool
	lastGroup atomic.Int64  // unix ns of the last write of a request its coordinator hears
	heartbeat chan struct{} // a heartbeat answer was read (dropped if full)

	conns struct {
		sync.Mutex
		m map[net.Conn]struct{}
	}
}

var errKilled = errors.New("member killed")

// memberConfig is what every member of a group shares.
type memberConfig struct {
	side      *side
	group     string
	topic     string
	balancer  kgo.GroupBalancer
	session   time.Duration
	heartbeat time.Duration
	tracker   *tracker
}

// startMember starts member index i and its poll loop. Besides the
// group, topic and balancer, the kgo options are the same on both sides:
// session timeout, heartbeat interval, start at the end of a partition
// that has no committed offset (new groups read only new records), and
// kgo's defaults otherwise (autocommit every 5 s; commit on revoke, which
// OnPartitionsRevoked keeps by calling CommitUncommittedOffsets as kgo's
// default callback does).
func startMember(mc memberConfig, i int) (*member, error) {
	m := &member{index: i, polled: make(chan struct{}), heartbeat: make(chan struct{}, 1)}
	m.conns.m = map[net.Conn]struct{}{}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	tr := mc.tracker
	tr.addMember(i)
	opts := append(mc.side.clientOpts(),
		kgo.ClientID(fmt.Sprintf("groupbench-%d", i)),
		kgo.WithContext(m.ctx),
		kgo.Dialer(m.dial),
		kgo.WithHooks(m),
		kgo.ConsumerGroup(mc.group),
		kgo.ConsumeTopics(mc.topic),
		kgo.Balancers(mc.balancer),
		kgo.SessionTimeout(mc.session),
		kgo.HeartbeatInterval(mc.heartbeat),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			tr.assigned(i, a[mc.topic])
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			tr.revoked(i, r[mc.topic])
			cl.CommitUncommittedOffsets(ctx)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			tr.revoked(i, l[mc.topic])
		}),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	m.cl = cl
	go m.poll(tr)
	return m, nil
}

// poll hands every polled record to the tracker until the client closes.
func (m *member) poll(tr *tracker) {
	defer close(m.polled)
	for {
		fs := m.cl.PollFetches(m.ctx)
		if fs.IsClientClosed() || m.ctx.Err() != nil {
			return
		}
		now := time.Now()
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				tr.delivered(m.index, p.Partition, n, now)
			}
		})
	}
}

// dial connects as kgo would, and remembers the connection so that kill
// can close it; once killed, it refuses.
func (m *member) dial(ctx context.Context, network, host string) (net.Conn, error) {
	if m.killed.Load() {
		return nil, errKilled
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	m.conns.Lock()
	defer m.conns.Unlock()
	if m.killed.Load() {
		c.Close()
		return nil, errKilled
	}
	m.conns.m[c] = struct{}{}
	return c, nil
}

// OnBrokerWrite notes when the member last sent its coordinator a request
// that may restart its session timer.
func (m *member) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	switch key {
	case keyOffsetCommit, keyJoinGroup, keyHeartbeat, keySyncGroup:
		if err == nil {
			m.lastGroup.Store(time.Now().UnixNano())
		}
	}
}

// OnBrokerRead signals every heartbeat answer, so that kill can strike
// right after one.
func (m *member) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == keyHeartbeat && err == nil {
		select {
		case m.heartbeat <- struct{}{}:
		default:
		}
	}
}

// nextHeartbeat waits for the member's next heartbeat answer.
func (m *member) nextHeartbeat(ctx context.Context, limit time.Duration) error {
	select {
	case <-m.heartbeat: // an old one
	default:
	}
	select {
	case <-m.heartbeat:
		return nil
	case <-time.After(limit):
		return fmt.Errorf("member %d: no heartbeat for %v: %w", m.index, limit, errTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kill makes the member vanish as a crashed process does: its
// connections are closed, it dials no more, and it sends nothing else —
// in particular no LeaveGroup.
func (m *member) kill() {
	m.conns.Lock()
	m.killed.Store(true)
	for c := range m.conns.m {
		c.Close()
	}
	m.conns.Unlock()
	m.cancel()
}

// lastGroupRequest is when the member last wrote a request that may have
// restarted its session timer.
func (m *member) lastGroupRequest() time.Time { return time.Unix(0, m.lastGroup.Load()) }

// close closes the client (leaving the group, unless killed) and waits for
// the poll loop, at most limit.
func (m *member) close(limit time.Duration) error {
	done := make(chan struct{})
	go func() {
		m.cl.Close()
		<-m.polled
		close(done)
	}()
	select {
	case <-done:
		m.cancel()
		return nil
	case <-time.After(limit):
		m.kill()
		return fmt.Errorf("member %d: close took over %v", m.index, limit)
	}
}

var (
	_ kgo.HookBrokerWrite = (*member)(nil)
	_ kgo.HookBrokerRead  = (*member)(nil)
)
