package stream

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestAssignData runs testdata/assign.txt. The command
//
//	assign tasks=<sub>:<partitions>,...
//	<member> [gen=<n>] [owned=<task>,...]
//	...
//
// prints each member's tasks: "+" marks a task the member did not own,
// "-" a task it owned and lost. Every run also checks the invariants
// (checkAssignment).
func TestAssignData(t *testing.T) {
	datadriven.RunTest(t, "testdata/assign.txt", func(t *testing.T, d *datadriven.TestData) string {
		if d.Cmd != "assign" {
			t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
		}
		var spec string
		d.ScanArgs(t, "tasks", &spec)
		tasks := parseTaskSpec(t, spec)
		members := parseMembers(t, d.Input)
		got := assignTasks(tasks, members)
		checkAssignment(t, tasks, members, got)
		return formatAssignment(members, got)
	})
}

func parseTaskSpec(t *testing.T, spec string) []TaskID {
	var tasks []TaskID
	for _, part := range strings.Split(spec, ",") {
		sub, n, ok := strings.Cut(part, ":")
		s, err1 := strconv.Atoi(sub)
		p, err2 := strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("bad task spec %q", part)
		}
		for i := range p {
			tasks = append(tasks, TaskID{Sub: s, Partition: int32(i)})
		}
	}
	return tasks
}

func parseTaskID(t *testing.T, s string) TaskID {
	sub, p, ok := strings.Cut(s, "_")
	si, err1 := strconv.Atoi(sub)
	pi, err2 := strconv.Atoi(p)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("bad task id %q", s)
	}
	return TaskID{Sub: si, Partition: int32(pi)}
}

func parseMembers(t *testing.T, input string) []assignMember {
	var members []assignMember
	for _, line := range strings.Split(strings.TrimSpace(input), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		m := assignMember{ID: fields[0]}
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "gen":
				g, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("bad gen %q", v)
				}
				m.Generation = int32(g)
			case "owned":
				for _, id := range strings.Split(v, ",") {
					m.Owned = append(m.Owned, parseTaskID(t, id))
				}
			default:
				t.Fatalf("bad member field %q", f)
			}
		}
		members = append(members, m)
	}
	return members
}

func formatAssignment(members []assignMember, got map[string][]TaskID) string {
	var b strings.Builder
	for _, m := range members {
		fmt.Fprintf(&b, "%s:", m.ID)
		for _, id := range got[m.ID] {
			mark := "+"
			if slices.Contains(m.Owned, id) {
				mark = ""
			}
			fmt.Fprintf(&b, " %s%s", mark, id)
		}
		for _, id := range m.Owned {
			if !slices.Contains(got[m.ID], id) {
				fmt.Fprintf(&b, " -%s", id)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// checkAssignment checks that every task has exactly one member, that
// loads differ by at most one, and that stickiness is the most balance
// allows: the number of tasks left with their (winning) previous owner is
// sum(min(claims, floor)) + min(rem, members with claims > floor).
func checkAssignment(t *testing.T, tasks []TaskID, members []assignMember, got map[string][]TaskID) {
	t.Helper()
	seen := map[TaskID]string{}
	lo, hi := len(tasks), 0
	for _, m := range members {
		ids := got[m.ID]
		lo, hi = min(lo, len(ids)), max(hi, len(ids))
		for _, id := range ids {
			if prev, dup := seen[id]; dup {
				t.Fatalf("task %s given to %s and %s", id, prev, m.ID)
			}
			seen[id] = m.ID
		}
	}
	if len(seen) != len(tasks) && len(members) > 0 {
		t.Fatalf("%d tasks assigned, want %d", len(seen), len(tasks))
	}
	if len(members) > 0 && hi-lo > 1 {
		t.Fatalf("unbalanced: loads from %d to %d", lo, hi)
	}
	if len(members) == 0 {
		return
	}
	claims := winningClaims(tasks, members)
	floor, rem := len(tasks)/len(members), len(tasks)%len(members)
	want, over, kept := 0, 0, 0
	for _, m := range members {
		c := len(claims[m.ID])
		want += min(c, floor)
		if c > floor {
			over++
		}
		for _, id := range claims[m.ID] {
			if seen[id] == m.ID {
				kept++
			}
		}
	}
	want += min(rem, over)
	if kept != want {
		t.Fatalf("%d tasks stayed with their owner, balance allows %d", kept, want)
	}
}

// TestAssignRandom checks the invariants on random groups: members join
// and leave between rounds, each round's owners are the last round's
// assignment, and a stale member sometimes claims tasks it lost.
func TestAssignRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		var tasks []TaskID
		for s := range 1 + rng.IntN(3) {
			for p := range 1 + rng.IntN(8) {
				tasks = append(tasks, TaskID{Sub: s, Partition: int32(p)})
			}
		}
		prev := map[string][]TaskID{}
		var ids []string
		for round := range 6 {
			if len(ids) == 0 || rng.IntN(3) > 0 {
				ids = append(ids, fmt.Sprintf("m%d-%d", trial, round))
			} else if len(ids) > 1 {
				i := rng.IntN(len(ids))
				ids = slices.Delete(ids, i, i+1)
			}
			var members []assignMember
			for _, id := range ids {
				m := assignMember{ID: id, Owned: prev[id], Generation: int32(round)}
				if rng.IntN(10) == 0 && round > 0 { // a stale claim
					m.Generation = int32(round - 1)
					m.Owned = append(m.Owned, tasks[rng.IntN(len(tasks))])
				}
				members = append(members, m)
			}
			got := assignTasks(tasks, members)
			checkAssignment(t, tasks, members, got)
			prev = got
		}
	}
}

// TestAssignDeterministic: the same input in any member order gives the
// same assignment (every member that leads a rebalance agrees).
func TestAssignDeterministic(t *testing.T) {
	tasks := parseTaskSpec(t, "0:5,1:5,2:2")
	members := []assignMember{
		{ID: "c", Owned: []TaskID{parseTaskID(t, "0_1"), parseTaskID(t, "1_1")}, Generation: 3},
		{ID: "a", Owned: []TaskID{parseTaskID(t, "0_0"), parseTaskID(t, "2_1")}, Generation: 3},
		{ID: "b", Generation: 3},
	}
	byID := slices.Clone(members)
	slices.SortFunc(byID, func(a, b assignMember) int { return strings.Compare(a.ID, b.ID) })
	want := formatAssignment(byID, assignTasks(tasks, members))
	for range 10 {
		rand.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		if got := formatAssignment(byID, assignTasks(tasks, members)); got != want {
			t.Fatalf("order changed the assignment:\n%s\nvs\n%s", got, want)
		}
	}
}
