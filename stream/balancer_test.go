package stream

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// balanceRound runs the balancer as kgo does on the group leader: members
// join with the metadata JoinGroupMetadata makes from what they own, the
// leader balances, and each member parses its assignment.
func balanceRound(t *testing.T, b *balancer, topics map[string]int32, owned map[string]map[string][]int32, gen int32) map[string]map[string][]int32 {
	t.Helper()
	interests := slices.Sorted(maps.Keys(topics))
	var members []kmsg.JoinGroupResponseMember
	for _, id := range slices.Sorted(maps.Keys(owned)) {
		m := kmsg.NewJoinGroupResponseMember()
		m.MemberID = id
		m.ProtocolMetadata = b.JoinGroupMetadata(interests, owned[id], gen)
		members = append(members, m)
	}
	mb, wanted, err := b.MemberBalancer(members)
	if err != nil {
		t.Fatal(err)
	}
	if len(wanted) != len(topics) {
		t.Fatalf("members want topics %v, not %v", wanted, interests)
	}
	into, err := mb.(kgo.GroupMemberBalancerOrError).BalanceOrError(topics)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]int32{}
	for _, a := range into.IntoSyncAssignment() {
		got, err := b.ParseSyncAssignment(a.MemberAssignment)
		if err != nil {
			t.Fatal(err)
		}
		out[a.MemberID] = got
	}
	return out
}

func format(plan map[string]map[string][]int32) string {
	var b strings.Builder
	for _, m := range slices.Sorted(maps.Keys(plan)) {
		fmt.Fprintf(&b, "%s:", m)
		for _, t := range slices.Sorted(maps.Keys(plan[m])) {
			fmt.Fprintf(&b, " %s%v", t, plan[m][t])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Sub-topology 0 joins topics a and b (co-partitioned), sub-topology 1
// reads c: a task's partitions of a and b always go to one member.
func TestBalancerCopartitions(t *testing.T) {
	b := newBalancer([][]string{{"a", "b"}, {"c"}}, quietLogger())
	topics := map[string]int32{"a": 3, "b": 3, "c": 2}
	got := format(balanceRound(t, b, topics, map[string]map[string][]int32{"m1": nil, "m2": nil}, -1))
	want := "m1: a[0 2] b[0 2] c[1]\nm2: a[1] b[1] c[0]\n"
	if got != want {
		t.Fatalf("got\n%swant\n%s", got, want)
	}
}

// A sub-topology reading topics of different sizes has as many tasks as
// the largest; a task holds the partitions that exist.
func TestBalancerUnequalSources(t *testing.T) {
	b := newBalancer([][]string{{"a", "b"}}, quietLogger())
	topics := map[string]int32{"a": 3, "b": 1}
	got := format(balanceRound(t, b, topics, map[string]map[string][]int32{"m1": nil, "m2": nil, "m3": nil}, -1))
	want := "m1: a[0] b[0]\nm2: a[1]\nm3: a[2]\n"
	if got != want {
		t.Fatalf("got\n%swant\n%s", got, want)
	}
}

// A member joins one that owns every task: the first round gives the
// newcomer nothing (the moving tasks are taken out of the plan, so the
// owner revokes them); the owner keeps the rest. The second round, with
// the owner no longer claiming the revoked tasks, hands them over.
func TestBalancerCooperative(t *testing.T) {
	b := newBalancer([][]string{{"a", "b"}, {"c"}}, quietLogger())
	topics := map[string]int32{"a": 2, "b": 2, "c": 2}
	all := map[string][]int32{"a": {0, 1}, "b": {0, 1}, "c": {0, 1}}
	round1 := balanceRound(t, b, topics, map[string]map[string][]int32{"m1": all, "m2": nil}, 1)
	if got, want := format(round1), "m1: a[0] b[0] c[0]\nm2:\n"; got != want {
		t.Fatalf("round 1: got\n%swant\n%s", got, want)
	}
	round2 := balanceRound(t, b, topics, map[string]map[string][]int32{"m1": round1["m1"], "m2": nil}, 2)
	if got, want := format(round2), "m1: a[0] b[0] c[0]\nm2: a[1] b[1] c[1]\n"; got != want {
		t.Fatalf("round 2: got\n%swant\n%s", got, want)
	}
	// A stable group: nothing moves, nothing is taken out.
	round3 := balanceRound(t, b, topics, round2, 3)
	if format(round3) != format(round2) {
		t.Fatalf("a stable group's plan changed:\n%s", format(round3))
	}
}
