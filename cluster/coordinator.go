package cluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-io/runnel/cluster/group"
)

const (
	// groupTickInterval is how often the coordinator advances every
	// group's timers: the resolution of session, rebalance and initial
	// delay timeouts.
	groupTickInterval = 100 * time.Millisecond
	// groupCleanupInterval is how often groups that have been Empty that
	// long with no committed offsets are forgotten (Kafka's
	// offsets.retention.check.interval.ms, whose cleanup does the same).
	groupCleanupInterval = 10 * time.Minute
	// groupWaitSlack is added to the longest rebalance timeout to bound
	// how long a JoinGroup or SyncGroup handler waits for its deferred
	// answer. The state machine answers within the rebalance timeout (to
	// a tick); this is a backstop, not a timeout clients see.
	groupWaitSlack = 10 * time.Second
	// groupMetadataVersion is the GroupMetadataValue version we write
	// (v3: instance ids, KIP-345).
	groupMetadataVersion = 3
)

// coordinator is the membership half of the group coordinator (see
// groups.go): it drives one group.Group state machine per group, feeding
// it requests and the clock, and does what the machine asks — delivers
// deferred JoinGroup and SyncGroup answers to the handlers waiting for
// them, persists group metadata through the groupStore, and logs every
// rebalance.
//
// Threading: each group has its own lock (groupEntry.mu); the coordinator's
// own lock (mu) guards only the map of groups. The lock order is a
// group's lock, then the map's; never the reverse. A handler holds a
// group's lock while it steps the machine and processes its output, never
// while it waits. The groupStore is called with a group's lock held: a
// store must therefore not hold a lock of its own while it calls into
// groupMembership (checkCommit, groupEmptySince), or the two can deadlock.
type coordinator struct {
	cfg    group.Config
	logger *slog.Logger
	store  atomic.Pointer[groupStoreBox]
	reqs   atomic.Uint64
	// stopped is set when run ends: deadline timers are stopped and not
	// armed again.
	stopped atomic.Bool

	mu struct {
		sync.Mutex
		groups map[string]*groupEntry
	}
}

// groupStoreBox lets a groupStore interface sit in an atomic.Pointer.
type groupStoreBox struct{ groupStore }

// groupEntry is one group and the handlers waiting on it.
type groupEntry struct {
	name string
	mu   struct {
		sync.Mutex
		g       *group.Group
		waiters map[group.RequestID]chan group.Response
		timer   *time.Timer // calls Tick at timerAt, the machine's next deadline
		timerAt time.Time
	}
}

// noGroupStore is the groupStore until the offsets half provides one:
// nothing is persisted, no group has offsets.
type noGroupStore struct{}

func (noGroupStore) storeGroup(string, []byte) error { return nil }
func (noGroupStore) deleteOffsets(string) error      { return nil }
func (noGroupStore) hasOffsets(string) bool          { return false }
func (noGroupStore) groupsWithOffsets() []string     { return nil }

var _ groupMembership = (*coordinator)(nil)

// newCoordinator returns a coordinator with no groups and no store.
func newCoordinator(cfg group.Config, logger *slog.Logger) *coordinator {
	if cfg.NewMemberID == nil {
		cfg.NewMemberID = randomMemberID
	}
	c := &coordinator{cfg: cfg, logger: logger}
	c.mu.groups = map[string]*groupEntry{}
	c.setStore(nil)
	return c
}

// setStore connects the offsets half. Call it once, before the broker
// serves; nil means nothing is persisted.
func (c *coordinator) setStore(s groupStore) {
	if s == nil {
		s = noGroupStore{}
	}
	c.store.Store(&groupStoreBox{s})
}

func (c *coordinator) currentStore() groupStore { return c.store.Load().groupStore }

// randomMemberID names a member as Kafka does: its client id (or instance
// id) and a random UUID.
func randomMemberID(clientID, instanceID string) string {
	prefix := clientID
	if instanceID != "" {
		prefix = instanceID
	}
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// run ticks every group until ctx is done.
func (c *coordinator) run(ctx context.Context) {
	t := time.NewTicker(groupTickInterval)
	defer t.Stop()
	lastCleanup := time.Now()
	for {
		select {
		case <-ctx.Done():
			c.stopped.Store(true)
			for _, e := range c.entries() {
				e.mu.Lock()
				if e.mu.timer != nil {
					e.mu.timer.Stop()
				}
				e.mu.Unlock()
			}
			return
		case now := <-t.C:
			for _, e := range c.entries() {
				c.apply(e, func(g *group.Group) { g.Tick(now) })
			}
			if now.Sub(lastCleanup) >= groupCleanupInterval {
				lastCleanup = now
				c.cleanup(now)
			}
		}
	}
}

// cleanup forgets groups that have been Empty for a cleanup interval and
// have no committed offsets, writing their tombstones.
func (c *coordinator) cleanup(now time.Time) {
	store := c.currentStore()
	for _, e := range c.entries() {
		c.apply(e, func(g *group.Group) {
			since, empty := g.EmptySince()
			if empty && now.Sub(since) >= groupCleanupInterval && !store.hasOffsets(e.name) {
				g.Delete(now)
			}
		})
	}
}

// entries returns every group, for a sweep.
func (c *coordinator) entries() []*groupEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	es := make([]*groupEntry, 0, len(c.mu.groups))
	for _, e := range c.mu.groups {
		es = append(es, e)
	}
	return es
}

// entry returns the named group; if there is none, a new Empty one when
// create is set, else nil.
func (c *coordinator) entry(name string, create bool) *groupEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.mu.groups[name]
	if e == nil && create {
		e = c.newEntryLocked(name, group.New(c.cfg, time.Now()))
	}
	return e
}

func (c *coordinator) newEntryLocked(name string, g *group.Group) *groupEntry {
	e := &groupEntry{name: name}
	e.mu.g = g
	e.mu.waiters = map[group.RequestID]chan group.Response{}
	c.mu.groups[name] = e
	return e
}

// apply steps e's machine with fn under e's lock and does what it asks.
func (c *coordinator) apply(e *groupEntry, fn func(g *group.Group)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fn(e.mu.g)
	c.processLocked(e, e.mu.g.Ready())
	c.scheduleLocked(e)
	if e.mu.g.State() == group.Dead {
		c.mu.Lock()
		if c.mu.groups[e.name] == e {
			delete(c.mu.groups, e.name)
		}
		c.mu.Unlock()
	}
}

// scheduleLocked arms e's timer for the machine's next deadline, so that
// sessions expire and join and sync phases end on time rather than at the
// next sweep of run's ticker (which stays, as a backstop).
func (c *coordinator) scheduleLocked(e *groupEntry) {
	at, ok := e.mu.g.NextDeadline()
	if !ok || c.stopped.Load() {
		if e.mu.timer != nil {
			e.mu.timer.Stop()
			e.mu.timerAt = time.Time{}
		}
		return
	}
	if e.mu.timer != nil && at.Equal(e.mu.timerAt) {
		return
	}
	e.mu.timerAt = at
	if e.mu.timer == nil {
		e.mu.timer = time.AfterFunc(time.Until(at), func() {
			c.apply(e, func(g *group.Group) { g.Tick(time.Now()) })
		})
		return
	}
	e.mu.timer.Reset(time.Until(at))
}

// processLocked persists, logs and delivers what the machine produced.
// Persisting comes first, so that a member learns of a generation only
// once it is stored (as Kafka answers SyncGroup after the append).
func (c *coordinator) processLocked(e *groupEntry, rd group.Ready) {
	store := c.currentStore()
	switch {
	case rd.Tombstone:
		if err := store.storeGroup(e.name, nil); err != nil {
			c.logger.Error("cluster: group tombstone not stored", "group", e.name, "err", err)
		}
	case rd.Store != nil:
		if err := store.storeGroup(e.name, encodeGroupMetadata(*rd.Store)); err != nil {
			c.logger.Error("cluster: group metadata not stored", "group", e.name,
				"generation", rd.Store.Generation, "err", err)
		}
	}
	for _, ev := range rd.Events {
		c.logEvent(e.name, e.mu.g.ProtocolType(), ev)
	}
	for _, r := range rd.Responses {
		if ch, ok := e.mu.waiters[r.Req]; ok {
			delete(e.mu.waiters, r.Req)
			ch <- r // buffered: each request is answered once
		}
	}
}

// await waits for request id's answer on ch, for at most d, or until ctx
// ends. It returns nil if none came.
func (c *coordinator) await(ctx context.Context, e *groupEntry, id group.RequestID, ch chan group.Response, d time.Duration) *group.Response {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-ch:
		return &r
	case <-ctx.Done():
	case <-t.C:
		c.logger.Warn("cluster: group request not answered in time", "group", e.name, "wait", d)
	}
	e.mu.Lock()
	delete(e.mu.waiters, id)
	e.mu.Unlock()
	select {
	case r := <-ch: // answered while we gave up
		return &r
	default:
		return nil
	}
}

// join runs a JoinGroup: it returns when the group answers, the broker
// closes (ctx), or the backstop passes.
func (c *coordinator) join(ctx context.Context, name string, j group.Join) group.JoinResult {
	e := c.entry(name, j.MemberID == "")
	if e == nil { // a member id for a group we do not know: rejoin afresh
		return group.JoinResult{Err: kerr.UnknownMemberID, MemberID: j.MemberID, Generation: -1}
	}
	j.Req = group.RequestID(c.reqs.Add(1))
	ch := make(chan group.Response, 1)
	var wait time.Duration
	c.apply(e, func(g *group.Group) {
		e.mu.waiters[j.Req] = ch
		g.Join(time.Now(), j)
		wait = g.MaxRebalanceTimeout() + c.cfg.InitialRebalanceDelay + groupWaitSlack
	})
	if r := c.await(ctx, e, j.Req, ch, wait); r != nil {
		return *r.Join
	}
	return group.JoinResult{Err: kerr.RebalanceInProgress, MemberID: j.MemberID, Generation: -1}
}

// sync runs a SyncGroup, like join.
func (c *coordinator) sync(ctx context.Context, name string, s group.Sync) group.SyncResult {
	e := c.entry(name, false)
	if e == nil {
		return group.SyncResult{Err: kerr.UnknownMemberID}
	}
	s.Req = group.RequestID(c.reqs.Add(1))
	ch := make(chan group.Response, 1)
	var wait time.Duration
	c.apply(e, func(g *group.Group) {
		e.mu.waiters[s.Req] = ch
		g.Sync(time.Now(), s)
		wait = g.MaxRebalanceTimeout() + groupWaitSlack
	})
	if r := c.await(ctx, e, s.Req, ch, wait); r != nil {
		return *r.Sync
	}
	return group.SyncResult{Err: kerr.RebalanceInProgress}
}

func (c *coordinator) heartbeat(name string, h group.Heartbeat) *kerr.Error {
	e := c.entry(name, false)
	if e == nil {
		return kerr.UnknownMemberID
	}
	var err *kerr.Error
	c.apply(e, func(g *group.Group) { err = g.Heartbeat(time.Now(), h) })
	return err
}

// leave runs a LeaveGroup; a group we do not know has no such members.
func (c *coordinator) leave(name string, ms []group.LeaveMember) []*kerr.Error {
	e := c.entry(name, false)
	if e == nil {
		errs := make([]*kerr.Error, len(ms))
		for i := range errs {
			errs[i] = kerr.UnknownMemberID
		}
		return errs
	}
	var errs []*kerr.Error
	c.apply(e, func(g *group.Group) { errs = g.Leave(time.Now(), ms) })
	return errs
}

// describe returns a group's description; a group we do not know is Dead,
// unless it has committed offsets (then it is Empty, as Kafka shows such
// groups).
func (c *coordinator) describe(name string) group.Description {
	if e := c.entry(name, false); e != nil {
		var d group.Description
		c.apply(e, func(g *group.Group) { d = g.Describe() })
		return d
	}
	if c.currentStore().hasOffsets(name) {
		return group.Description{State: group.Empty}
	}
	return group.Description{State: group.Dead}
}

// listedGroup is one group of ListGroups.
type listedGroup struct {
	name, protocolType string
	state              group.State
}

// list returns every live group, sorted by name.
func (c *coordinator) list() []listedGroup {
	var out []listedGroup
	seen := map[string]bool{}
	for _, e := range c.entries() {
		e.mu.Lock()
		g := e.mu.g
		seen[e.name] = true
		if g.State() != group.Dead {
			out = append(out, listedGroup{e.name, g.ProtocolType(), g.State()})
		}
		e.mu.Unlock()
	}
	// Groups known only by their committed offsets are Empty, as Kafka
	// lists them.
	for _, name := range c.currentStore().groupsWithOffsets() {
		if !seen[name] {
			out = append(out, listedGroup{name, "", group.Empty})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// deleteGroup deletes an Empty group and its committed offsets.
func (c *coordinator) deleteGroup(name string) *kerr.Error {
	store := c.currentStore()
	if e := c.entry(name, false); e != nil {
		var err *kerr.Error
		c.apply(e, func(g *group.Group) { err = g.Delete(time.Now()) })
		if err != nil {
			return err
		}
	} else if !store.hasOffsets(name) {
		return kerr.GroupIDNotFound
	}
	if err := store.deleteOffsets(name); err != nil {
		c.logger.Error("cluster: deleting group offsets", "group", name, "err", err)
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// checkCommit implements groupMembership. A simple commit (negative
// generation) to a group we do not know creates it, Empty, as Kafka does;
// any other commit to it is from a stale generation.
func (c *coordinator) checkCommit(name, memberID string, instanceID *string, generation int32) *kerr.Error {
	e := c.entry(name, generation < 0)
	if e == nil {
		return kerr.IllegalGeneration
	}
	var err *kerr.Error
	c.apply(e, func(g *group.Group) { err = g.CheckCommit(memberID, deref(instanceID), generation) })
	return err
}

// groupEmptySince implements groupMembership. A group that never had
// members (it exists for simple commits only, with no protocol type)
// answers as one we do not know, so that each of its offsets expires from
// its own commit, as Kafka expires a group without a protocol type.
func (c *coordinator) groupEmptySince(name string) (emptySinceMs int64, empty, known bool) {
	e := c.entry(name, false)
	if e == nil {
		return 0, false, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if g := e.mu.g; g.State() == group.Dead || g.State() == group.Empty && g.ProtocolType() == "" {
		return 0, false, false
	}
	since, empty := e.mu.g.EmptySince()
	return since.UnixMilli(), empty, true
}

// restoreGroup implements groupMembership: the group comes back from its
// latest stored metadata (see group.Restore: members are kept with fresh
// sessions). A record that does not decode is logged and skipped; the
// group then starts afresh when a member joins.
func (c *coordinator) restoreGroup(name string, value []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if value == nil {
		delete(c.mu.groups, name)
		return
	}
	s, err := decodeGroupMetadata(value)
	if err != nil {
		c.logger.Error("cluster: group metadata unreadable, group starts afresh", "group", name, "err", err)
		delete(c.mu.groups, name)
		return
	}
	c.newEntryLocked(name, group.Restore(c.cfg, s, time.Now()))
	c.logger.Debug("cluster: group restored", "group", name, "generation", s.Generation, "members", len(s.Members))
}

// encodeGroupMetadata is a snapshot as Kafka's GroupMetadataValue v3.
func encodeGroupMetadata(s group.Snapshot) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupMetadataVersion
	v.ProtocolType, v.Generation = s.ProtocolType, s.Generation
	if s.Protocol != "" {
		v.Protocol = kmsg.StringPtr(s.Protocol)
	}
	if s.Leader != "" {
		v.Leader = kmsg.StringPtr(s.Leader)
	}
	v.CurrentStateTimestamp = s.StateSince.UnixMilli()
	for _, m := range s.Members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.ClientID, vm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
		if m.InstanceID != "" {
			vm.InstanceID = kmsg.StringPtr(m.InstanceID)
		}
		vm.RebalanceTimeoutMillis = int32(m.RebalanceTimeout.Milliseconds())
		vm.SessionTimeoutMillis = int32(m.SessionTimeout.Milliseconds())
		vm.Subscription, vm.Assignment = m.Metadata, m.Assignment
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// decodeGroupMetadata reads a GroupMetadataValue of any version Kafka
// writes (0-4).
func decodeGroupMetadata(b []byte) (group.Snapshot, error) {
	v := kmsg.NewGroupMetadataValue()
	if err := v.ReadFrom(b); err != nil {
		return group.Snapshot{}, fmt.Errorf("cluster: group metadata: %w", err)
	}
	s := group.Snapshot{
		ProtocolType: v.ProtocolType, Generation: v.Generation,
		Protocol: deref(v.Protocol), Leader: deref(v.Leader),
		StateSince: time.UnixMilli(max(v.CurrentStateTimestamp, 0)),
	}
	if v.Version < 2 || v.CurrentStateTimestamp < 0 { // unknown: from now
		s.StateSince = time.UnixMilli(time.Now().UnixMilli())
	}
	for _, m := range v.Members {
		if m.MemberID == "" || m.SessionTimeoutMillis <= 0 {
			return group.Snapshot{}, fmt.Errorf("cluster: group metadata: member %q with session timeout %d ms", m.MemberID, m.SessionTimeoutMillis)
		}
		rebalance := m.RebalanceTimeoutMillis
		if v.Version < 1 || rebalance <= 0 {
			rebalance = m.SessionTimeoutMillis
		}
		s.Members = append(s.Members, group.SnapshotMember{
			MemberID: m.MemberID, InstanceID: deref(m.InstanceID),
			ClientID: m.ClientID, ClientHost: m.ClientHost,
			SessionTimeout:   time.Duration(m.SessionTimeoutMillis) * time.Millisecond,
			RebalanceTimeout: time.Duration(rebalance) * time.Millisecond,
			Metadata:         m.Subscription, Assignment: m.Assignment,
		})
	}
	return s, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// logEvent logs what a group did: every rebalance at info level with its
// cause, and when it completes, who owned what before and after.
func (c *coordinator) logEvent(name, protocolType string, ev group.Event) {
	attrs := []any{"group", name, "generation", ev.Generation}
	if ev.Cause != group.CauseNone {
		attrs = append(attrs, "cause", ev.Cause.String())
	}
	if ev.Member != "" {
		attrs = append(attrs, "member", ev.Member)
	}
	if ev.InstanceID != "" {
		attrs = append(attrs, "instance", ev.InstanceID)
	}
	if ev.Reason != "" {
		attrs = append(attrs, "reason", ev.Reason)
	}
	switch ev.Kind {
	case group.MemberAdded:
		c.logger.Debug("group member joined", attrs...)
	case group.MemberRemoved:
		c.logger.Info("group member removed", attrs...)
	case group.StaticReplaced:
		c.logger.Info("group static member replaced", append(attrs, "previous", ev.Previous, "rebalance", ev.Rebalance)...)
	case group.RebalanceStarted:
		c.logger.Info("group rebalance started", attrs...)
	case group.JoinCompleted:
		c.logger.Debug("group joined", append(attrs, "leader", ev.Leader, "protocol", ev.Protocol, "members", len(ev.Members))...)
	case group.RebalanceCompleted:
		c.logger.Info("group rebalanced", append(attrs, "leader", ev.Leader, "protocol", ev.Protocol,
			"before", formatAssignments(protocolType, ev.Before), "after", formatAssignments(protocolType, ev.After))...)
	case group.GroupEmpty:
		c.logger.Info("group is empty", append(attrs, "before", formatAssignments(protocolType, ev.Before))...)
	case group.GroupDeleted:
		c.logger.Info("group deleted", attrs...)
	}
}

// formatAssignments prints each member's share: topic-partitions for the
// consumer protocol ("m1=[orders:0,1 clicks:2] m2=[]"), sizes otherwise.
func formatAssignments(protocolType string, as []group.MemberAssignment) string {
	var b strings.Builder
	for i, a := range as {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.MemberID)
		b.WriteByte('=')
		b.WriteString(formatAssignment(protocolType, a.Assignment))
	}
	return b.String()
}

func formatAssignment(protocolType string, p []byte) string {
	if protocolType != "consumer" {
		return fmt.Sprintf("<%d bytes>", len(p))
	}
	var a kmsg.ConsumerMemberAssignment
	if len(p) > 0 {
		if err := a.ReadFrom(p); err != nil {
			return fmt.Sprintf("<%d bytes>", len(p))
		}
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, t := range a.Topics {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:", t.Topic)
		for j, p := range t.Partitions {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, p)
		}
	}
	b.WriteByte(']')
	return b.String()
}

// groupConfig is what the group state machines take from the broker's
// configuration.
func (c *Config) groupConfig() group.Config {
	return group.Config{
		InitialRebalanceDelay: c.GroupInitialRebalanceDelay,
		MinSessionTimeout:     c.GroupMinSessionTimeout,
		MaxSessionTimeout:     c.GroupMaxSessionTimeout,
		MaxMembers:            c.GroupMaxSize,
	}
}
