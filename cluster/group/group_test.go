package group

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func testConfig() Config {
	return Config{MinSessionTimeout: time.Second, MaxSessionTimeout: time.Hour, MaxMembers: 50}
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestParseState(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want State
		ok   bool
	}{
		{"Stable", Stable, true},
		{"stable", Stable, true},
		{"PREPARINGREBALANCE", PreparingRebalance, true},
		{"CompletingRebalance", CompletingRebalance, true},
		{"Empty", Empty, true},
		{"Dead", Dead, true},
		{"Assigning", 0, false},
		{"", 0, false},
	} {
		got, ok := ParseState(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseState(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestSelectProtocol: the protocol every member supports that most
// members prefer.
func TestSelectProtocol(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members [][]string // each member's protocols, most preferred first
		want    string
	}{
		{"one member, its first", [][]string{{"b", "a"}}, "b"},
		{"all agree", [][]string{{"range"}, {"range"}}, "range"},
		{"majority of first choices", [][]string{{"x", "y"}, {"y", "x"}, {"y", "x"}}, "y"},
		{"first choice not common", [][]string{{"sticky", "range"}, {"range"}}, "range"},
		{"tie broken by name", [][]string{{"rr", "range"}, {"range", "rr"}}, "range"},
		{"vote for the first common", [][]string{{"a", "c", "b"}, {"b", "c"}, {"c"}}, "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(testConfig(), t0)
			for i, ps := range tc.members {
				var protos []Protocol
				for _, p := range ps {
					protos = append(protos, Protocol{Name: p})
				}
				g.Join(t0, Join{Req: RequestID(i + 1), ClientID: "c", ProtocolType: "consumer", Protocols: protos,
					SessionTimeout: 10 * time.Second, RebalanceTimeout: time.Minute})
			}
			if got := g.selectProtocol(); got != tc.want {
				t.Fatalf("selectProtocol = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestJoinErrors: the refusals of a JoinGroup, one input each.
func TestJoinErrors(t *testing.T) {
	base := Join{Req: 1, ClientID: "c", ProtocolType: "consumer", Protocols: []Protocol{{Name: "range"}},
		SessionTimeout: 10 * time.Second, RebalanceTimeout: time.Minute}
	for _, tc := range []struct {
		name string
		edit func(*Join)
		want *kerr.Error
	}{
		{"no protocols", func(j *Join) { j.Protocols = nil }, kerr.InconsistentGroupProtocol},
		{"no protocol type", func(j *Join) { j.ProtocolType = "" }, kerr.InconsistentGroupProtocol},
		{"session too short", func(j *Join) { j.SessionTimeout = time.Second - 1 }, kerr.InvalidSessionTimeout},
		{"session too long", func(j *Join) { j.SessionTimeout = time.Hour + 1 }, kerr.InvalidSessionTimeout},
		{"metadata too big", func(j *Join) {
			j.Protocols = []Protocol{{Name: "range", Metadata: make([]byte, MaxMetadataBytes+1)}}
		}, kerr.InvalidRequest},
		{"unknown member id", func(j *Join) { j.MemberID = "m-1" }, kerr.UnknownMemberID},
		{"unknown instance", func(j *Join) { j.MemberID, j.InstanceID = "m-1", "i" }, kerr.UnknownMemberID},
		{"member id required", func(j *Join) { j.RequireKnownMemberID = true }, kerr.MemberIDRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(testConfig(), t0)
			j := base
			tc.edit(&j)
			g.Join(t0, j)
			rd := g.Ready()
			if len(rd.Responses) != 1 || rd.Responses[0].Join == nil {
				t.Fatalf("responses %+v", rd.Responses)
			}
			if got := rd.Responses[0].Join.Err; got != tc.want {
				t.Fatalf("err = %v, want %v", got, tc.want)
			}
			if g.State() != Empty || g.NumMembers() != 0 {
				t.Fatalf("refused join changed the group: %v with %d members", g.State(), g.NumMembers())
			}
		})
	}
}

// TestSnapshotRestore: a restored group snapshots as it was stored.
func TestSnapshotRestore(t *testing.T) {
	g := New(testConfig(), t0)
	for i, id := range []string{"a", "b", "c"} {
		j := Join{Req: RequestID(i + 1), ClientID: id, ProtocolType: "consumer",
			Protocols:      []Protocol{{Name: "range", Metadata: []byte("m" + id)}, {Name: "rr"}},
			SessionTimeout: 10 * time.Second, RebalanceTimeout: time.Minute}
		if id == "b" {
			j.InstanceID = "ib"
		}
		g.Join(t0, j)
	}
	g.Join(t0, Join{Req: 9, MemberID: "a-1", ClientID: "a", ProtocolType: "consumer",
		Protocols:      []Protocol{{Name: "range", Metadata: []byte("ma")}, {Name: "rr"}},
		SessionTimeout: 10 * time.Second, RebalanceTimeout: time.Minute})
	g.Sync(t0, Sync{Req: 10, MemberID: "a-1", Generation: 2, Assignments: []MemberAssignment{
		{MemberID: "a-1", Assignment: []byte("p0")}, {MemberID: "ib-2", Assignment: []byte("p1")}, {MemberID: "c-3", Assignment: []byte("p2")},
	}})
	rd := g.Ready()
	if rd.Store == nil || g.State() != Stable {
		t.Fatalf("no store after the leader's sync: %v", g.State())
	}
	want := *rd.Store
	got := Restore(testConfig(), want, t0.Add(time.Hour)).Snapshot()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored snapshot differs:\n got %+v\nwant %+v", got, want)
	}
}

// TestRandomInputs drives groups with random inputs and checks that every
// Join and Sync is answered exactly once (the driver's handlers wait on
// exactly that), that the invariants hold (checked after every input in
// race and invariants builds), and that once every member has left or
// expired the group ends Empty with nothing waiting.
func TestRandomInputs(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 30
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomRun(t, uint64(seed)) })
	}
}

func randomRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	cfg := testConfig()
	cfg.InitialRebalanceDelay = time.Duration(rng.IntN(3)) * time.Second
	cfg.MaxMembers = 6
	g := New(cfg, t0)
	now := t0
	var req RequestID
	open := map[RequestID]bool{}
	// What the simulated clients know: member ids, and the generation
	// they last saw.
	var ids []string
	gens := map[string]int32{}
	instances := []string{"", "", "i1", "i2"}
	protos := [][]Protocol{{{Name: "range"}}, {{Name: "range"}, {Name: "rr"}}, {{Name: "rr"}}, {{Name: "range", Metadata: []byte("x")}}}
	pick := func() string {
		if len(ids) == 0 || rng.IntN(10) == 0 {
			return fmt.Sprintf("ghost-%d", rng.IntN(3))
		}
		return ids[rng.IntN(len(ids))]
	}
	drain := func() {
		rd := g.Ready()
		for _, r := range rd.Responses {
			if !open[r.Req] {
				t.Fatalf("seed %d: request %d answered twice or never asked: %+v", seed, r.Req, r)
			}
			delete(open, r.Req)
			if j := r.Join; j != nil && j.MemberID != "" {
				ids = append(ids, j.MemberID)
				if j.Err == nil {
					gens[j.MemberID] = j.Generation
				}
			}
		}
	}
	for range 400 {
		switch op := rng.IntN(10); {
		case op < 3:
			req++
			open[req] = true
			j := Join{Req: req, ClientID: "c", ProtocolType: "consumer", Protocols: protos[rng.IntN(len(protos))],
				SessionTimeout: time.Duration(1+rng.IntN(10)) * time.Second, RebalanceTimeout: time.Duration(1+rng.IntN(10)) * time.Second,
				RequireKnownMemberID: rng.IntN(2) == 0, InstanceID: instances[rng.IntN(len(instances))]}
			if rng.IntN(3) > 0 {
				j.MemberID = pick()
			}
			g.Join(now, j)
		case op < 5:
			req++
			open[req] = true
			id := pick()
			s := Sync{Req: req, MemberID: id, Generation: gens[id]}
			for _, o := range ids {
				if rng.IntN(2) == 0 {
					s.Assignments = append(s.Assignments, MemberAssignment{MemberID: o, Assignment: []byte(o)})
				}
			}
			g.Sync(now, s)
		case op < 7:
			id := pick()
			g.Heartbeat(now, Heartbeat{MemberID: id, Generation: gens[id]})
		case op < 8:
			g.Leave(now, []LeaveMember{{MemberID: pick()}})
		case op < 9:
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			g.Tick(now)
		default:
			id := pick()
			g.CheckCommit(id, "", gens[id])
			g.Describe()
		}
		drain()
	}
	// Everyone goes quiet: within the longest timeouts every request is
	// answered and the group empties.
	for range 100 {
		now = now.Add(time.Second)
		g.Tick(now)
		drain()
	}
	if len(open) > 0 {
		t.Fatalf("seed %d: requests never answered: %v (state %v)", seed, open, g.State())
	}
	if g.State() != Empty || g.NumMembers() != 0 {
		t.Fatalf("seed %d: quiet group is %v with %d members", seed, g.State(), g.NumMembers())
	}
	if err := g.verify(); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
}

// TestNextDeadline: the driver's timer must fire when Tick would change
// the group: a Stable member's session expiry, and nothing for a group
// with no members.
func TestNextDeadline(t *testing.T) {
	g := New(testConfig(), t0)
	if _, ok := g.NextDeadline(); ok {
		t.Fatal("an empty group has a deadline")
	}
	join := Join{Req: 1, ClientID: "a", ProtocolType: "consumer", Protocols: []Protocol{{Name: "range"}},
		SessionTimeout: 10 * time.Second, RebalanceTimeout: time.Minute}
	g.Join(t0, join)
	rd := g.Ready()
	var id string
	for _, r := range rd.Responses {
		if r.Join != nil {
			id = r.Join.MemberID
		}
	}
	if id == "" {
		t.Fatalf("no member id handed out: %+v", rd)
	}
	join.Req, join.MemberID = 2, id
	g.Join(t0, join)
	g.Ready()
	if g.State() == Stable || g.State() == CompletingRebalance {
		g.Sync(t0, Sync{Req: 3, MemberID: id, Generation: g.Generation(), Assignments: []MemberAssignment{{MemberID: id}}})
		g.Ready()
	}
	at, ok := g.NextDeadline()
	if !ok {
		t.Fatalf("no deadline in state %v", g.State())
	}
	if at.After(t0.Add(10 * time.Second)) {
		t.Fatalf("next deadline %v is after the member's session expiry", at.Sub(t0))
	}
	// Ticking at the deadline, with no heartbeat since, must do something
	// once the session has run out.
	g.Tick(t0.Add(10*time.Second + time.Millisecond))
	if len(g.members) != 0 && g.State() == Stable {
		t.Fatalf("member not expired at its deadline: %v, %d members", g.State(), len(g.members))
	}
}
