package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Tick advances the group's timers to now: pending member ids and
// sessions expire, the join phase ends at its deadline (or the initial
// delay extends it), members that never sent SyncGroup are removed.
func (g *Group) Tick(now time.Time) {
	defer g.check()
	if g.state == Dead {
		return
	}
	g.expirePending(now)
	g.expireSessions(now)
	switch g.state {
	case PreparingRebalance:
		if !now.Before(g.joinDeadline) {
			g.joinDeadlinePassed(now)
		}
	case CompletingRebalance, Stable:
		if len(g.pendingSync) > 0 && !now.Before(g.syncDeadline) {
			g.expireSyncs(now)
		}
	}
}

// rebalanceOrCompleteJoin starts a rebalance, or, if one is under way,
// ends its join phase if every member is in.
func (g *Group) rebalanceOrCompleteJoin(now time.Time, cause Cause, member, reason string) {
	switch g.state {
	case Empty, CompletingRebalance, Stable:
		g.prepareRebalance(now, cause, member, reason)
	case PreparingRebalance:
		g.maybeCompleteJoin(now)
	}
}

// prepareRebalance starts a join phase. Members waiting for the leader's
// assignment are told REBALANCE_IN_PROGRESS, so they rejoin. A group that
// was Empty waits the initial rebalance delay for more members; otherwise
// the phase ends when every member has rejoined, or at the longest
// rebalance timeout.
func (g *Group) prepareRebalance(now time.Time, cause Cause, member, reason string) {
	if g.state == CompletingRebalance {
		for _, m := range g.sorted() {
			m.assignment = nil
			if m.awaitingSync {
				m.awaitingSync = false
				g.replySync(m.syncReq, SyncResult{Err: kerr.RebalanceInProgress})
			}
		}
	}
	g.pendingSync = nil
	from := g.state
	g.setState(PreparingRebalance, now)
	g.cause, g.causeMember = cause, member
	g.emit(Event{Kind: RebalanceStarted, Cause: cause, Member: member, Reason: reason, Generation: g.generation})
	delay := g.cfg.InitialRebalanceDelay
	g.initial = from == Empty && delay > 0
	if g.initial {
		g.newMemberAdded = false
		g.joinDeadline = now.Add(delay)
		g.initialRemaining = max(g.MaxRebalanceTimeout()-delay, 0)
		return
	}
	g.joinDeadline = now.Add(g.MaxRebalanceTimeout())
	g.maybeCompleteJoin(now)
}

// maybeCompleteJoin ends the join phase if every member has rejoined and
// no member id handed out is still to come back, or at the deadline. The
// initial delay always runs its course (Tick ends it).
func (g *Group) maybeCompleteJoin(now time.Time) {
	if g.state != PreparingRebalance || g.initial {
		return
	}
	allJoined := g.awaitingJoin == len(g.members) && len(g.pending) == 0
	if allJoined || !now.Before(g.joinDeadline) {
		g.completeJoin(now)
	}
}

// joinDeadlinePassed ends the join phase, unless new members came during
// the initial delay and the rebalance timeout leaves room to wait for more.
func (g *Group) joinDeadlinePassed(now time.Time) {
	if g.initial && g.newMemberAdded && g.initialRemaining > 0 {
		g.newMemberAdded = false
		d := min(g.cfg.InitialRebalanceDelay, g.initialRemaining)
		g.initialRemaining -= d
		g.joinDeadline = now.Add(d)
		return
	}
	g.initial = false
	g.completeJoin(now)
}

// completeJoin ends the join phase: dynamic members that did not rejoin
// are removed (static ones keep their place until their session expires),
// the generation advances, the protocol is chosen, and every waiting member
// gets its JoinGroup answer — the leader with every member's metadata.
func (g *Group) completeJoin(now time.Time) {
	for _, m := range g.sorted() {
		if !m.awaitingJoin && m.instanceID == "" {
			g.dropMember(m, CauseRebalanceTimeout, "")
		}
	}
	if len(g.members) > 0 && g.awaitingJoin == 0 {
		// Only static members that have not rejoined are left: wait
		// for them, or for their sessions to end.
		g.joinDeadline = now.Add(g.MaxRebalanceTimeout())
		return
	}
	g.generation++
	if g.generation < 0 {
		g.generation = 1
	}
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setState(Empty, now)
		g.emit(Event{Kind: GroupEmpty, Cause: g.cause, Member: g.causeMember, Generation: g.generation, Before: g.completed})
		g.completed = nil
		g.store()
		return
	}
	if l := g.members[g.leader]; l == nil || !l.awaitingJoin {
		g.leader = g.oldestJoined()
	}
	g.protocol = g.selectProtocol()
	g.setState(CompletingRebalance, now)
	g.pendingSync = make(map[string]struct{}, len(g.members))
	g.syncDeadline = now.Add(g.MaxRebalanceTimeout())
	ev := Event{Kind: JoinCompleted, Cause: g.cause, Member: g.causeMember, Generation: g.generation,
		Leader: g.leader, Protocol: g.protocol}
	for _, m := range g.sorted() {
		ev.Members = append(ev.Members, m.id)
		g.pendingSync[m.id] = struct{}{}
		m.expiry = now.Add(m.sessionTimeout)
		if m.awaitingJoin {
			m.awaitingJoin = false
			g.awaitingJoin--
			g.replyJoin(m.joinReq, g.joinResult(m))
		}
	}
	g.emit(ev)
}

// oldestJoined returns the longest-standing member waiting in JoinGroup.
func (g *Group) oldestJoined() string {
	var best *member
	for _, m := range g.members {
		if m.awaitingJoin && (best == nil || m.seq < best.seq) {
			best = m
		}
	}
	return best.id
}

// removeMember removes m and rebalances the rest.
func (g *Group) removeMember(now time.Time, m *member, cause Cause, reason string) {
	g.dropMember(m, cause, reason)
	switch g.state {
	case CompletingRebalance, Stable:
		g.prepareRebalance(now, cause, m.id, reason)
	case PreparingRebalance:
		g.maybeCompleteJoin(now)
	}
}

// expirePending forgets member ids handed out with MEMBER_ID_REQUIRED
// whose members did not come back within their session timeout.
func (g *Group) expirePending(now time.Time) {
	expired := false
	for id, at := range g.pending {
		if !now.Before(at) {
			delete(g.pending, id)
			expired = true
		}
	}
	if expired {
		g.maybeCompleteJoin(now)
	}
}

// expireSessions removes the members whose session timed out. A member
// waiting in JoinGroup or SyncGroup cannot heartbeat; the rebalance
// timeout bounds its wait instead.
func (g *Group) expireSessions(now time.Time) {
	for _, m := range g.sorted() {
		if g.members[m.id] != m {
			continue // removed by an earlier expiry's rebalance
		}
		if !m.awaitingJoin && !m.awaitingSync && !now.Before(m.expiry) {
			g.removeMember(now, m, CauseSessionExpiry, "")
		}
	}
}

// expireSyncs removes the members that did not send SyncGroup within the
// rebalance timeout after the join phase, and rebalances.
func (g *Group) expireSyncs(now time.Time) {
	first := ""
	for _, m := range g.sorted() {
		if _, ok := g.pendingSync[m.id]; ok {
			if first == "" {
				first = m.id
			}
			g.dropMember(m, CauseSyncTimeout, "")
		}
	}
	g.prepareRebalance(now, CauseSyncTimeout, first, "")
}

// NextDeadline returns the earliest time at which Tick would change the
// group, and false if no timer runs. A driver that calls Tick at that time
// (and again after every input, which may move it) expires sessions and
// ends join and sync phases on time, not at its next sweep.
func (g *Group) NextDeadline() (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if g.state == Dead {
		return next, false
	}
	for _, at := range g.pending {
		consider(at)
	}
	for _, m := range g.members {
		if !m.awaitingJoin && !m.awaitingSync {
			consider(m.expiry)
		}
	}
	switch g.state {
	case PreparingRebalance:
		consider(g.joinDeadline)
	case CompletingRebalance, Stable:
		if len(g.pendingSync) > 0 {
			consider(g.syncDeadline)
		}
	}
	return next, !next.IsZero()
}
