package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Sync handles a SyncGroup. Its answer comes out of Ready: at once for an
// error or a Stable group; for a follower during CompletingRebalance, when
// the leader's SyncGroup hands out the assignment.
func (g *Group) Sync(now time.Time, s Sync) {
	defer g.check()
	if err := g.checkSync(s); err != nil {
		g.replySync(s.Req, SyncResult{Err: err})
		return
	}
	m := g.members[s.MemberID]
	switch g.state {
	case PreparingRebalance:
		g.replySync(s.Req, SyncResult{Err: kerr.RebalanceInProgress})
	case CompletingRebalance:
		delete(g.pendingSync, m.id)
		if m.awaitingSync {
			g.replySync(m.syncReq, SyncResult{Err: kerr.RebalanceInProgress})
		}
		m.awaitingSync, m.syncReq = true, s.Req
		if m.id == g.leader {
			g.completeSync(now, s.Assignments)
		}
	case Stable:
		delete(g.pendingSync, m.id)
		m.expiry = now.Add(m.sessionTimeout)
		g.replySync(s.Req, g.syncResult(m))
	}
}

func (g *Group) checkSync(s Sync) *kerr.Error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if err := g.validateMember(s.MemberID, s.InstanceID); err != nil {
		return err
	}
	switch {
	case s.Generation != g.generation:
		return kerr.IllegalGeneration
	case s.ProtocolType != nil && *s.ProtocolType != g.protocolType,
		s.Protocol != nil && *s.Protocol != g.protocol:
		return kerr.InconsistentGroupProtocol
	}
	for _, a := range s.Assignments {
		if len(a.Assignment) > MaxMetadataBytes {
			return kerr.InvalidRequest
		}
	}
	return nil
}

// completeSync takes the leader's assignment: the group is Stable, every
// member waiting in SyncGroup gets its share, and the generation is
// persisted. Members the leader left out get an empty assignment;
// assignments for non-members are ignored.
func (g *Group) completeSync(now time.Time, as []MemberAssignment) {
	for _, m := range g.members {
		m.assignment = nil
	}
	for _, a := range as {
		if m := g.members[a.MemberID]; m != nil {
			m.assignment = a.Assignment
		}
	}
	g.setState(Stable, now)
	before := g.completed
	g.completed = g.assignments()
	for _, m := range g.sorted() {
		if m.awaitingSync {
			m.awaitingSync = false
			m.expiry = now.Add(m.sessionTimeout)
			g.replySync(m.syncReq, g.syncResult(m))
		}
	}
	g.emit(Event{Kind: RebalanceCompleted, Cause: g.cause, Member: g.causeMember, Generation: g.generation, Leader: g.leader,
		Protocol: g.protocol, Before: before, After: g.completed})
	g.store()
}

func (g *Group) syncResult(m *member) SyncResult {
	return SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}
}

// Heartbeat handles a Heartbeat: a known member of the current generation
// extends its session; during a join phase it is told
// REBALANCE_IN_PROGRESS, so that it rejoins.
func (g *Group) Heartbeat(now time.Time, h Heartbeat) *kerr.Error {
	defer g.check()
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if err := g.validateMember(h.MemberID, h.InstanceID); err != nil {
		return err
	}
	if h.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	m := g.members[h.MemberID]
	m.expiry = now.Add(m.sessionTimeout)
	if g.state == PreparingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

// Leave handles a LeaveGroup of one or more members, and returns an error
// (or nil) for each. The others rebalance.
func (g *Group) Leave(now time.Time, ms []LeaveMember) []*kerr.Error {
	defer g.check()
	errs := make([]*kerr.Error, len(ms))
	for i, lm := range ms {
		errs[i] = g.leaveOne(now, lm)
	}
	return errs
}

func (g *Group) leaveOne(now time.Time, lm LeaveMember) *kerr.Error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	id := lm.MemberID
	if lm.InstanceID != "" {
		known, ok := g.static[lm.InstanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID
		case id != "" && id != known:
			return kerr.FencedInstanceID
		}
		id = known
	} else if _, ok := g.pending[id]; ok {
		delete(g.pending, id)
		g.maybeCompleteJoin(now)
		return nil
	}
	m := g.members[id]
	if m == nil {
		return kerr.UnknownMemberID
	}
	g.removeMember(now, m, CauseLeave, lm.Reason)
	return nil
}
