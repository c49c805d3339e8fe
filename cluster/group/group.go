// Package group is the consumer-group membership state machine of Kafka's
// classic group protocol: JoinGroup, SyncGroup, Heartbeat and LeaveGroup,
// the generations they produce, and the timeouts that drive them.
//
// A Group is a plain struct with no goroutines, clock or sockets, in the
// manner of etcd's raft: the caller feeds it requests and the current time
// (Join, Sync, Heartbeat, Leave, Tick, Delete), then calls Ready to take
// what the group produced — responses to deliver, events to log, metadata
// to persist — and does the I/O.
//
// Deferral: a JoinGroup is not answered until the rebalance's join phase
// ends, and a follower's SyncGroup not until the leader's SyncGroup
// arrives. So Join and Sync never answer directly: their answers, at once
// or later, come out of Ready as Responses carrying the RequestID the
// caller passed in. Every Join and every Sync is answered exactly once
// (a member removed while it waits is answered UNKNOWN_MEMBER_ID, a
// fenced one FENCED_INSTANCE_ID, a superseded request
// REBALANCE_IN_PROGRESS). Heartbeat, Leave, Delete and CheckCommit answer
// directly but may release deferred answers of other members.
//
// The semantics are Kafka's (its GroupMetadataManager and ClassicGroup):
// KIP-394 member ids, KIP-345 static membership, KIP-814 skip assignment,
// the initial rebalance delay, protocol voting. The group never looks
// inside protocol metadata or assignments, so every client-side assignor
// works, cooperative-sticky included (its second rebalance is just a
// rebalance).
//
// A Group is not safe for concurrent use; the caller serializes.
package group

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Group is one consumer group's membership.
type Group struct {
	cfg        Config
	state      State
	stateSince time.Time
	generation int32

	protocolType string
	protocol     string // chosen for the current generation; "" when Empty
	leader       string

	members      map[string]*member
	static       map[string]string    // instance id → member id
	supported    map[string]int       // protocol name → members supporting it
	pending      map[string]time.Time // MEMBER_ID_REQUIRED handed out: id → expiry
	awaitingJoin int                  // members with a deferred Join
	seq          uint64               // join order: the oldest member leads
	ids          uint64               // for the default member ids

	// PreparingRebalance.
	joinDeadline     time.Time
	initial          bool // the rebalance started from Empty: wait the initial delay
	initialRemaining time.Duration
	newMemberAdded   bool
	// cause and causeMember started the current rebalance; they are
	// repeated in its JoinCompleted and RebalanceCompleted events.
	cause       Cause
	causeMember string

	// CompletingRebalance and Stable: members that have not yet sent
	// SyncGroup for this generation, removed at syncDeadline.
	pendingSync  map[string]struct{}
	syncDeadline time.Time

	// completed is the assignment of the last completed rebalance: the
	// "before" of the next one.
	completed []MemberAssignment

	rd Ready
}

type member struct {
	id, instanceID       string
	clientID, clientHost string
	protocols            []Protocol
	sessionTimeout       time.Duration
	rebalanceTimeout     time.Duration
	seq                  uint64
	expiry               time.Time // session expiry, while not waiting
	assignment           []byte

	awaitingJoin, awaitingSync bool
	joinReq, syncReq           RequestID
}

// New returns an Empty group.
func New(cfg Config, now time.Time) *Group {
	return &Group{
		cfg:        cfg,
		stateSince: now,
		members:    map[string]*member{},
		static:     map[string]string{},
		supported:  map[string]int{},
		pending:    map[string]time.Time{},
	}
}

// Restore rebuilds a group from its persisted metadata, as the broker
// starts. Members are kept, with fresh session timers from now: a member
// that is still running keeps heartbeating its generation and notices
// nothing; one that is gone expires after its session timeout, which
// rebalances the group. A group with members comes back Stable.
func Restore(cfg Config, s Snapshot, now time.Time) *Group {
	g := New(cfg, s.StateSince)
	g.generation, g.protocolType = s.Generation, s.ProtocolType
	for _, sm := range s.Members {
		m := &member{
			id: sm.MemberID, instanceID: sm.InstanceID,
			clientID: sm.ClientID, clientHost: sm.ClientHost,
			protocols:        []Protocol{{Name: s.Protocol, Metadata: sm.Metadata}},
			sessionTimeout:   sm.SessionTimeout,
			rebalanceTimeout: sm.RebalanceTimeout,
			expiry:           now.Add(sm.SessionTimeout),
			assignment:       sm.Assignment,
		}
		g.addMemberLocked(m)
	}
	if len(g.members) > 0 {
		g.state, g.protocol, g.leader = Stable, s.Protocol, s.Leader
		if _, ok := g.members[g.leader]; !ok {
			g.leader = g.oldest()
		}
		g.completed = g.assignments()
	}
	g.check()
	return g
}

// Ready returns and clears what the group produced since the last call.
func (g *Group) Ready() Ready {
	rd := g.rd
	g.rd = Ready{}
	return rd
}

// State returns the group's state.
func (g *Group) State() State { return g.state }

// Generation returns the current generation (0 before the first).
func (g *Group) Generation() int32 { return g.generation }

// ProtocolType returns the members' protocol type ("consumer").
func (g *Group) ProtocolType() string { return g.protocolType }

// NumMembers returns how many members the group has.
func (g *Group) NumMembers() int { return len(g.members) }

// EmptySince reports when the group last became Empty, for offset
// retention; ok is false if the group has members (or is Dead).
func (g *Group) EmptySince() (time.Time, bool) {
	return g.stateSince, g.state == Empty
}

// MaxRebalanceTimeout is the longest rebalance timeout of the members: a
// bound on how long a deferred answer waits.
func (g *Group) MaxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// Snapshot returns the group's durable metadata.
func (g *Group) Snapshot() Snapshot {
	s := Snapshot{
		ProtocolType: g.protocolType, Generation: g.generation,
		Protocol: g.protocol, Leader: g.leader, StateSince: g.stateSince,
	}
	for _, m := range g.sorted() {
		s.Members = append(s.Members, SnapshotMember{
			MemberID: m.id, InstanceID: m.instanceID,
			ClientID: m.clientID, ClientHost: m.clientHost,
			SessionTimeout: m.sessionTimeout, RebalanceTimeout: m.rebalanceTimeout,
			Metadata: m.metadata(g.protocol), Assignment: m.assignment,
		})
	}
	return s
}

// Describe returns DescribeGroups' view. As in Kafka, the protocol,
// member metadata and assignments are shown only when Stable.
func (g *Group) Describe() Description {
	d := Description{State: g.state, ProtocolType: g.protocolType}
	stable := g.state == Stable
	if stable {
		d.Protocol = g.protocol
	}
	for _, m := range g.sorted() {
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if stable {
			md.Metadata, md.Assignment = m.metadata(g.protocol), m.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d
}

// CheckCommit validates an OffsetCommit's member and generation, as
// Kafka's validateOffsetCommit does: a negative generation commits only to
// an Empty group (a consumer outside the group protocol, or an admin); a
// member commits only its current generation, and not while the group
// waits for the leader's assignment.
func (g *Group) CheckCommit(memberID, instanceID string, generation int32) *kerr.Error {
	switch {
	case g.state == Dead:
		return kerr.CoordinatorNotAvailable
	case generation < 0 && g.state == Empty:
		return nil
	case generation >= 0 || memberID != "" || instanceID != "":
		if err := g.validateMember(memberID, instanceID); err != nil {
			return err
		}
		if generation != g.generation {
			return kerr.IllegalGeneration
		}
	case g.state != Empty:
		return kerr.UnknownMemberID
	}
	if g.state == CompletingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

// Delete makes an Empty group Dead (DeleteGroups); a group with members
// is refused NON_EMPTY_GROUP.
func (g *Group) Delete(now time.Time) *kerr.Error {
	switch g.state {
	case Dead:
		return kerr.GroupIDNotFound
	case Empty:
		clear(g.pending)
		g.setState(Dead, now)
		g.rd.Tombstone, g.rd.Store = true, nil
		g.emit(Event{Kind: GroupDeleted, Generation: g.generation})
		return nil
	default:
		return kerr.NonEmptyGroup
	}
}

// validateMember is Kafka's ClassicGroup.validateMember: a static member
// is known by its instance id, and fenced if it names another member id.
func (g *Group) validateMember(memberID, instanceID string) *kerr.Error {
	if instanceID != "" {
		id, ok := g.static[instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID
		case id != memberID:
			return kerr.FencedInstanceID
		}
		return nil
	}
	if _, ok := g.members[memberID]; !ok {
		return kerr.UnknownMemberID
	}
	return nil
}

// newMemberID names a new member, never an id in use (a restored group's
// members were named before the counter restarted).
func (g *Group) newMemberID(clientID, instanceID string) string {
	for range len(g.members) + len(g.pending) + 8 {
		var id string
		if g.cfg.NewMemberID != nil {
			id = g.cfg.NewMemberID(clientID, instanceID)
		} else {
			g.ids++
			prefix := clientID
			if instanceID != "" {
				prefix = instanceID
			}
			id = prefix + "-" + strconv.FormatUint(g.ids, 10)
		}
		_, member := g.members[id]
		_, pending := g.pending[id]
		if !member && !pending && id != "" {
			return id
		}
	}
	panic("group: NewMemberID keeps returning ids in use")
}

func (g *Group) setState(s State, now time.Time) {
	g.state, g.stateSince = s, now
}

func (g *Group) emit(e Event) { g.rd.Events = append(g.rd.Events, e) }

func (g *Group) store() {
	s := g.Snapshot()
	g.rd.Store = &s
}

func (g *Group) replyJoin(req RequestID, r JoinResult) {
	if r.Err != nil {
		r.Generation = -1
	}
	g.rd.Responses = append(g.rd.Responses, Response{Req: req, Join: &r})
}

func (g *Group) replySync(req RequestID, r SyncResult) {
	g.rd.Responses = append(g.rd.Responses, Response{Req: req, Sync: &r})
}

// addMemberLocked adds m to the member tables, without any rebalance.
func (g *Group) addMemberLocked(m *member) {
	g.seq++
	m.seq = g.seq
	g.members[m.id] = m
	if m.instanceID != "" {
		g.static[m.instanceID] = m.id
	}
	for _, p := range m.protocols {
		g.supported[p.Name]++
	}
	if len(g.members) == 1 || g.leader == "" {
		g.leader = m.id
	}
}

// setProtocols replaces m's protocols, keeping the supported counts.
func (g *Group) setProtocols(m *member, ps []Protocol) {
	for _, p := range m.protocols {
		g.supported[p.Name]--
	}
	m.protocols = ps
	for _, p := range ps {
		g.supported[p.Name]++
	}
}

// dropMember removes m from the member tables, answering its waiting
// requests (so none is left hanging), and emits MemberRemoved.
func (g *Group) dropMember(m *member, cause Cause, reason string) {
	g.answerWaiting(m, kerr.UnknownMemberID)
	for _, p := range m.protocols {
		g.supported[p.Name]--
		if g.supported[p.Name] == 0 {
			delete(g.supported, p.Name)
		}
	}
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if g.leader == m.id {
		g.leader = g.oldest()
	}
	g.emit(Event{Kind: MemberRemoved, Cause: cause, Member: m.id, InstanceID: m.instanceID,
		Reason: reason, Generation: g.generation})
}

// answerWaiting answers m's deferred Join and Sync with err.
func (g *Group) answerWaiting(m *member, err *kerr.Error) {
	if m.awaitingJoin {
		m.awaitingJoin = false
		g.awaitingJoin--
		g.replyJoin(m.joinReq, JoinResult{Err: err, MemberID: m.id})
	}
	if m.awaitingSync {
		m.awaitingSync = false
		g.replySync(m.syncReq, SyncResult{Err: err})
	}
}

// oldest returns the longest-standing member's id, "" if none.
func (g *Group) oldest() string {
	var best *member
	for _, m := range g.members {
		if best == nil || m.seq < best.seq {
			best = m
		}
	}
	if best == nil {
		return ""
	}
	return best.id
}

// sorted returns the members by member id, for deterministic output.
func (g *Group) sorted() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int {
		if a.id < b.id {
			return -1
		}
		if a.id > b.id {
			return 1
		}
		return 0
	})
	return ms
}

// assignments returns every member's assignment, sorted by member id.
func (g *Group) assignments() []MemberAssignment {
	var as []MemberAssignment
	for _, m := range g.sorted() {
		as = append(as, MemberAssignment{MemberID: m.id, Assignment: m.assignment})
	}
	return as
}

// metadata returns m's metadata for protocol.
func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// check verifies the group's bookkeeping; it panics in invariant builds
// (go test -race, or -tags invariants) and costs nothing otherwise.
func (g *Group) check() {
	if !invariants {
		return
	}
	if err := g.verify(); err != nil {
		panic("group: " + err.Error())
	}
}

func (g *Group) verify() error {
	waiting, supported := 0, map[string]int{}
	for id, m := range g.members {
		if m.id != id {
			return fmt.Errorf("member %q filed as %q", m.id, id)
		}
		if m.awaitingJoin {
			waiting++
		}
		for _, p := range m.protocols {
			supported[p.Name]++
		}
		if m.instanceID != "" && g.static[m.instanceID] != id {
			return fmt.Errorf("static member %q not indexed by %q", id, m.instanceID)
		}
	}
	if waiting != g.awaitingJoin {
		return fmt.Errorf("%d members await join, counted %d", waiting, g.awaitingJoin)
	}
	for name, n := range g.supported {
		if supported[name] != n {
			return fmt.Errorf("protocol %q supported by %d, counted %d", name, supported[name], n)
		}
	}
	for inst, id := range g.static {
		if m, ok := g.members[id]; !ok || m.instanceID != inst {
			return fmt.Errorf("instance %q maps to %q, not a member of it", inst, id)
		}
	}
	for id := range g.pendingSync {
		if _, ok := g.members[id]; !ok {
			return fmt.Errorf("pending sync of non-member %q", id)
		}
	}
	hasMembers := len(g.members) > 0
	switch {
	case g.state == Empty && hasMembers, g.state == Dead && hasMembers:
		return fmt.Errorf("%v with %d members", g.state, len(g.members))
	case (g.state == CompletingRebalance || g.state == Stable) && !hasMembers:
		return fmt.Errorf("%v with no members", g.state)
	case hasMembers && g.members[g.leader] == nil:
		return fmt.Errorf("leader %q is not a member", g.leader)
	}
	return nil
}
