package stream

import (
	"cmp"
	"slices"
)

// assignMember is one group member as the task assignor sees it: its id
// and the tasks it owned before this rebalance, with the generation of
// that ownership (a member that missed rebalances may claim a task that
// has since moved; the higher generation wins).
type assignMember struct {
	ID         string
	Owned      []TaskID
	Generation int32
}

// assignTasks maps every task to exactly one member, and returns each
// member's tasks sorted. It is a pure function: no I/O, no clock, no
// randomness, so the same input always gives the same assignment.
//
// The assignment is
//   - balanced: members' task counts differ by at most one;
//   - sticky: as many tasks as balance allows stay with their previous
//     owner (every member keeps up to its quota of what it owned, and the
//     members that may hold one task more are those that owned more);
//   - spread: a task that must move goes to a least-loaded member, ties
//     broken by who holds fewest tasks of the same sub-topology, then by
//     member id, so the tasks of one sub-topology spread over members.
//
// All source partitions of a task go with the task: the caller expands
// tasks to partitions, which keeps co-partitioned inputs together.
func assignTasks(tasks []TaskID, members []assignMember) map[string][]TaskID {
	out := make(map[string][]TaskID, len(members))
	if len(members) == 0 {
		return out
	}
	tasks = slices.Clone(tasks)
	slices.SortFunc(tasks, compareTasks)
	tasks = slices.Compact(tasks)
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b assignMember) int { return cmp.Compare(a.ID, b.ID) })

	claims := winningClaims(tasks, members)
	owner := make(map[TaskID]string, len(tasks))
	load := make(map[string]int, len(members))
	give := func(id TaskID, m string) {
		owner[id] = m
		load[m]++
	}
	floor, rem := len(tasks)/len(members), len(tasks)%len(members)

	// Pass 1: every member keeps up to floor of the tasks it owned.
	for _, m := range members {
		for _, id := range claims[m.ID] {
			if load[m.ID] < floor {
				give(id, m.ID)
			}
		}
	}
	// Pass 2: the rem members allowed one task more are those with the
	// most owned tasks left over.
	byLeft := slices.Clone(members)
	left := func(m assignMember) int { return len(claims[m.ID]) - load[m.ID] }
	slices.SortStableFunc(byLeft, func(a, b assignMember) int { return cmp.Compare(left(b), left(a)) })
	for _, m := range byLeft {
		if rem == 0 || left(m) == 0 {
			break
		}
		for _, id := range claims[m.ID] {
			if _, taken := owner[id]; !taken {
				give(id, m.ID)
				rem--
				break
			}
		}
	}
	// Pass 3: the rest go to the least-loaded member.
	fillLeastLoaded(tasks, members, owner, load)
	for _, m := range members {
		out[m.ID] = []TaskID{}
	}
	for id, m := range owner {
		out[m] = append(out[m], id)
	}
	for _, ids := range out {
		slices.SortFunc(ids, compareTasks)
	}
	return out
}

// fillLeastLoaded gives each task without an owner, in task order, to
// the member with the fewest tasks; ties go to the member with the fewest
// tasks of the same sub-topology, then to the first by id.
func fillLeastLoaded(tasks []TaskID, members []assignMember, owner map[TaskID]string, load map[string]int) {
	perSub := map[string]map[int]int{}
	for id, m := range owner {
		bump(perSub, m, id.Sub)
	}
	for _, id := range tasks {
		if _, taken := owner[id]; taken {
			continue
		}
		best := members[0].ID
		for _, m := range members[1:] {
			if load[m.ID] < load[best] || load[m.ID] == load[best] && perSub[m.ID][id.Sub] < perSub[best][id.Sub] {
				best = m.ID
			}
		}
		owner[id] = best
		load[best]++
		bump(perSub, best, id.Sub)
	}
}

// winningClaims returns, per member, the tasks it owned that still exist
// and that no other member claims at a higher generation (at equal
// generations the first member by id wins), interleaved over
// sub-topologies.
func winningClaims(tasks []TaskID, members []assignMember) map[string][]TaskID {
	exists := make(map[TaskID]bool, len(tasks))
	for _, id := range tasks {
		exists[id] = true
	}
	type claim struct {
		member string
		gen    int32
	}
	best := map[TaskID]claim{}
	for _, m := range members {
		for _, id := range m.Owned {
			if c, ok := best[id]; exists[id] && (!ok || m.Generation > c.gen) {
				best[id] = claim{m.ID, m.Generation}
			}
		}
	}
	out := map[string][]TaskID{}
	for _, id := range tasks {
		if c, ok := best[id]; ok {
			out[c.member] = append(out[c.member], id)
		}
	}
	for _, ids := range out {
		interleaveSubs(ids)
	}
	return out
}

// interleaveSubs orders a member's claims round-robin over sub-topologies
// (0_0 1_0 0_1 1_1 ...), so that a member keeping part of what it owned
// keeps some of each sub-topology.
func interleaveSubs(ids []TaskID) {
	rank := make(map[TaskID]int, len(ids))
	seen := map[int]int{}
	for _, id := range ids { // ids are in task order
		rank[id] = seen[id.Sub]
		seen[id.Sub]++
	}
	slices.SortFunc(ids, func(a, b TaskID) int {
		if c := cmp.Compare(rank[a], rank[b]); c != 0 {
			return c
		}
		return compareTasks(a, b)
	})
}

func bump(m map[string]map[int]int, member string, sub int) {
	if m[member] == nil {
		m[member] = map[int]int{}
	}
	m[member][sub]++
}

func compareTasks(a, b TaskID) int {
	if c := cmp.Compare(a.Sub, b.Sub); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}
