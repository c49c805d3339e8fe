package group

import (
	"bytes"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Join handles a JoinGroup. Its answer comes out of Ready: at once for an
// error, MEMBER_ID_REQUIRED, or a member that need not rebalance; when the
// join phase ends otherwise.
func (g *Group) Join(now time.Time, j Join) {
	defer g.check()
	j.Protocols = dedupe(j.Protocols)
	if err := g.checkJoin(j); err != nil {
		g.replyJoin(j.Req, JoinResult{Err: err, MemberID: j.MemberID})
		return
	}
	if j.MemberID == "" {
		g.joinNew(now, j)
		return
	}
	g.joinKnown(now, j)
}

func (g *Group) checkJoin(j Join) *kerr.Error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if j.SessionTimeout < g.cfg.MinSessionTimeout || j.SessionTimeout > g.cfg.MaxSessionTimeout {
		return kerr.InvalidSessionTimeout
	}
	for _, p := range j.Protocols {
		if len(p.Metadata) > MaxMetadataBytes {
			return kerr.InvalidRequest
		}
	}
	if !g.supports(j) {
		return kerr.InconsistentGroupProtocol
	}
	return nil
}

// supports reports whether the joiner can be in this group: it names a
// protocol type and at least one protocol, and, if there are other
// members, has their protocol type and a protocol that all of them
// support. The joiner's own current membership (or the static member it
// replaces) does not count as another member.
func (g *Group) supports(j Join) bool {
	if j.ProtocolType == "" || len(j.Protocols) == 0 {
		return false
	}
	self := j.MemberID
	if self == "" && j.InstanceID != "" {
		self = g.static[j.InstanceID]
	}
	mine := g.members[self]
	others := len(g.members)
	if mine != nil {
		others--
	}
	if others == 0 {
		return true
	}
	if j.ProtocolType != g.protocolType {
		return false
	}
	for _, p := range j.Protocols {
		n := g.supported[p.Name]
		if mine != nil && hasProtocol(mine.protocols, p.Name) {
			n--
		}
		if n == others {
			return true
		}
	}
	return false
}

// joinNew handles a join without a member id: a new member, or a static
// member restarting.
func (g *Group) joinNew(now time.Time, j Join) {
	if j.InstanceID != "" {
		if id, ok := g.static[j.InstanceID]; ok {
			g.replaceStatic(now, j, g.members[id])
			return
		}
	}
	if g.cfg.MaxMembers > 0 && len(g.members)+len(g.pending) >= g.cfg.MaxMembers {
		g.replyJoin(j.Req, JoinResult{Err: kerr.GroupMaxSizeReached})
		return
	}
	id := g.newMemberID(j.ClientID, j.InstanceID)
	if j.InstanceID == "" && j.RequireKnownMemberID {
		// KIP-394: the member must come back with this id, so that a
		// client whose JoinGroup times out does not leave a ghost
		// member behind. It is no member until then.
		g.pending[id] = now.Add(j.SessionTimeout)
		g.replyJoin(j.Req, JoinResult{Err: kerr.MemberIDRequired, MemberID: id})
		return
	}
	g.addMember(now, id, j)
}

// joinKnown handles a join with a member id.
func (g *Group) joinKnown(now time.Time, j Join) {
	if _, ok := g.pending[j.MemberID]; ok && j.InstanceID == "" {
		delete(g.pending, j.MemberID)
		g.addMember(now, j.MemberID, j)
		return
	}
	if err := g.validateMember(j.MemberID, j.InstanceID); err != nil {
		g.replyJoin(j.Req, JoinResult{Err: err, MemberID: j.MemberID})
		return
	}
	m := g.members[j.MemberID]
	if g.state == PreparingRebalance {
		g.updateMember(m, j)
		g.awaitJoin(m, j.Req)
		g.maybeCompleteJoin(now)
		return
	}
	// CompletingRebalance or Stable. A member that rejoins unchanged
	// (its JoinGroup response was lost) gets the current generation;
	// the Stable leader's rejoin, though, always rebalances: that is how
	// it asks for one when topic metadata changes.
	same := sameProtocols(m.protocols, j.Protocols)
	if same && (g.state == CompletingRebalance || m.id != g.leader) {
		g.replyJoin(j.Req, g.joinResult(m))
		return
	}
	g.updateMember(m, j)
	g.awaitJoin(m, j.Req)
	g.prepareRebalance(now, CauseMetadataChange, m.id, j.Reason)
}

// addMember adds a new member waiting in j, and rebalances.
func (g *Group) addMember(now time.Time, id string, j Join) {
	m := &member{
		id: id, instanceID: j.InstanceID, clientID: j.ClientID, clientHost: j.ClientHost,
		protocols: j.Protocols, sessionTimeout: j.SessionTimeout, rebalanceTimeout: j.RebalanceTimeout,
		expiry: now.Add(j.SessionTimeout),
	}
	g.addMemberLocked(m)
	if len(g.members) == 1 {
		g.protocolType = j.ProtocolType
	}
	g.awaitJoin(m, j.Req)
	if g.state == PreparingRebalance && g.initial {
		g.newMemberAdded = true
	}
	g.emit(Event{Kind: MemberAdded, Cause: CauseJoin, Member: id, InstanceID: j.InstanceID,
		Reason: j.Reason, Generation: g.generation})
	g.rebalanceOrCompleteJoin(now, CauseJoin, id, j.Reason)
}

// updateMember takes a known member's new join.
func (g *Group) updateMember(m *member, j Join) {
	g.setProtocols(m, j.Protocols)
	m.sessionTimeout, m.rebalanceTimeout = j.SessionTimeout, j.RebalanceTimeout
	m.clientID, m.clientHost = j.ClientID, j.ClientHost
	if len(g.members) == 1 {
		g.protocolType = j.ProtocolType
	}
}

// awaitJoin defers m's join answer to the end of the join phase. A join
// it supersedes is answered REBALANCE_IN_PROGRESS (its client has given
// up on it).
func (g *Group) awaitJoin(m *member, req RequestID) {
	if m.awaitingJoin {
		g.replyJoin(m.joinReq, JoinResult{Err: kerr.RebalanceInProgress, MemberID: m.id})
	} else {
		g.awaitingJoin++
	}
	m.awaitingJoin, m.joinReq = true, req
}

// replaceStatic hands a static member's place to its new incarnation
// (KIP-345). The old member id is fenced: its waiting requests are
// answered FENCED_INSTANCE_ID, and so is anything it sends later. A Stable
// group whose protocol choice does not change keeps its generation and
// assignment: the new incarnation gets the old one's share without a
// rebalance.
func (g *Group) replaceStatic(now time.Time, j Join, m *member) {
	oldID, newID := m.id, g.newMemberID(j.ClientID, j.InstanceID)
	g.answerWaiting(m, kerr.FencedInstanceID)
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[j.InstanceID] = newID
	if _, ok := g.pendingSync[oldID]; ok {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = struct{}{}
	}
	if g.leader == oldID {
		g.leader = newID
	}
	g.updateMember(m, j)
	m.expiry = now.Add(m.sessionTimeout)
	keep := g.state == Stable && g.selectProtocol() == g.protocol
	g.emit(Event{Kind: StaticReplaced, Member: newID, Previous: oldID, InstanceID: j.InstanceID,
		Rebalance: !keep, Reason: j.Reason, Generation: g.generation})
	if keep {
		r := g.joinResult(m)
		r.SkipAssignment = m.id == g.leader // KIP-814: the leader need not assign again
		g.replyJoin(j.Req, r)
		g.store()
		return
	}
	g.awaitJoin(m, j.Req)
	g.rebalanceOrCompleteJoin(now, CauseStaticRejoin, newID, j.Reason)
}

// joinResult is the current generation as m sees it.
func (g *Group) joinResult(m *member) JoinResult {
	r := JoinResult{
		MemberID: m.id, Generation: g.generation, ProtocolType: g.protocolType,
		Protocol: g.protocol, Leader: g.leader,
	}
	if m.id == g.leader {
		for _, o := range g.sorted() {
			r.Members = append(r.Members, JoinMember{MemberID: o.id, InstanceID: o.instanceID, Metadata: o.metadata(g.protocol)})
		}
	}
	return r
}

// selectProtocol chooses the generation's protocol as Kafka does: among
// the protocols every member supports, each member votes for the one it
// prefers most; the most votes win (ties: the first name in byte order,
// where Kafka leaves it to a hash map).
func (g *Group) selectProtocol() string {
	n := len(g.members)
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.supported[p.Name] == n {
				votes[p.Name]++
				break
			}
		}
	}
	best, most := "", 0
	for name, v := range votes {
		if v > most || v == most && name < best {
			best, most = name, v
		}
	}
	return best
}

func hasProtocol(ps []Protocol, name string) bool {
	return slices.ContainsFunc(ps, func(p Protocol) bool { return p.Name == name })
}

func sameProtocols(a, b []Protocol) bool {
	return slices.EqualFunc(a, b, func(x, y Protocol) bool {
		return x.Name == y.Name && bytes.Equal(x.Metadata, y.Metadata)
	})
}

// dedupe keeps the first of protocols listed twice.
func dedupe(ps []Protocol) []Protocol {
	for i := 1; i < len(ps); i++ {
		if hasProtocol(ps[:i], ps[i].Name) {
			out := slices.Clone(ps[:i])
			for _, p := range ps[i:] {
				if !hasProtocol(out, p.Name) {
					out = append(out, p)
				}
			}
			return out
		}
	}
	return ps
}
