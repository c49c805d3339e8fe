package cluster

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-io/runnel/cluster/group"
)

// ============================================================================
// The driver against a fake of the store seam
// ============================================================================

// memGroupStore is an in-memory groupStore that records what it is asked.
type memGroupStore struct {
	mu      sync.Mutex
	values  map[string][]byte
	stores  []string // group names, in order
	deleted []string
	offsets map[string]bool
}

func newMemGroupStore() *memGroupStore {
	return &memGroupStore{values: map[string][]byte{}, offsets: map[string]bool{}}
}

func (s *memGroupStore) storeGroup(g string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stores = append(s.stores, g)
	if v == nil {
		delete(s.values, g)
	} else {
		s.values[g] = v
	}
	return nil
}

func (s *memGroupStore) deleteOffsets(g string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = append(s.deleted, g)
	delete(s.offsets, g)
	return nil
}

func (s *memGroupStore) hasOffsets(g string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offsets[g]
}

func (s *memGroupStore) groupsWithOffsets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for g, ok := range s.offsets {
		if ok {
			out = append(out, g)
		}
	}
	return out
}

func testCoordinator(t *testing.T) (*coordinator, *memGroupStore) {
	cfg := group.Config{MinSessionTimeout: 10 * time.Millisecond, MaxSessionTimeout: time.Hour, MaxMembers: 100}
	c := newCoordinator(cfg, slog.New(slog.NewTextHandler(&syncBuffer{}, nil)))
	st := newMemGroupStore()
	c.setStore(st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, st
}

func consumerJoin(member, client string, topics ...string) group.Join {
	meta := kmsg.ConsumerMemberMetadata{Version: 0, Topics: topics}
	return group.Join{MemberID: member, ClientID: client, ClientHost: "/127.0.0.1", ProtocolType: "consumer",
		Protocols:      []group.Protocol{{Name: "range", Metadata: meta.AppendTo(nil)}},
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 5 * time.Second}
}

func consumerAssignment(topic string, ps ...int32) []byte {
	a := kmsg.ConsumerMemberAssignment{Topics: []kmsg.ConsumerMemberAssignmentTopic{{Topic: topic, Partitions: ps}}}
	return a.AppendTo(nil)
}

// TestCoordinatorDefersAndStores: two members join concurrently; each
// handler blocks until the join phase ends, the follower's SyncGroup until
// the leader's; the completed generation is stored as a GroupMetadataValue
// v3 that restores to the same group.
func TestCoordinatorDefersAndStores(t *testing.T) {
	c, st := testCoordinator(t)
	ctx := testCtx(t)
	a := c.join(ctx, "g", consumerJoin("", "a", "t"))
	if a.Err != nil || a.Generation != 1 || a.Leader != a.MemberID {
		t.Fatalf("first join: %+v", a)
	}
	// b joins: the group rebalances; a learns it at its heartbeat and
	// rejoins. Both JoinGroups are answered together.
	bres := make(chan group.JoinResult, 1)
	go func() { bres <- c.join(ctx, "g", consumerJoin("", "b", "t")) }()
	waitFor(t, "b's join to start a rebalance", func() bool {
		return c.heartbeat("g", group.Heartbeat{MemberID: a.MemberID, Generation: 1}) == kerr.RebalanceInProgress
	})
	select {
	case r := <-bres:
		t.Fatalf("b answered before a rejoined: %+v", r)
	default:
	}
	a = c.join(ctx, "g", consumerJoin(a.MemberID, "a", "t"))
	b := <-bres
	if a.Err != nil || b.Err != nil || a.Generation != 2 || b.Generation != 2 || len(a.Members) != 2 {
		t.Fatalf("generation 2: a %+v, b %+v", a, b)
	}
	sres := make(chan group.SyncResult, 1)
	go func() { sres <- c.sync(ctx, "g", group.Sync{MemberID: b.MemberID, Generation: 2}) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case r := <-sres:
		t.Fatalf("follower synced before the leader: %+v", r)
	default:
	}
	as := c.sync(ctx, "g", group.Sync{MemberID: a.MemberID, Generation: 2, Assignments: []group.MemberAssignment{
		{MemberID: a.MemberID, Assignment: consumerAssignment("t", 0, 1)},
		{MemberID: b.MemberID, Assignment: consumerAssignment("t", 2)},
	}})
	bs := <-sres
	if as.Err != nil || bs.Err != nil || !bytes.Equal(bs.Assignment, consumerAssignment("t", 2)) {
		t.Fatalf("sync: a %+v, b %+v", as, bs)
	}

	st.mu.Lock()
	value := st.values["g"]
	st.mu.Unlock()
	v := kmsg.NewGroupMetadataValue()
	if err := v.ReadFrom(value); err != nil || v.Version != 3 || v.Generation != 2 || len(v.Members) != 2 || deref(v.Protocol) != "range" {
		t.Fatalf("stored value: %v %+v", err, v)
	}
	// A new coordinator restores the group from it, members and all.
	c2, _ := testCoordinator(t)
	c2.restoreGroup("g", value)
	if err := c2.heartbeat("g", group.Heartbeat{MemberID: b.MemberID, Generation: 2}); err != nil {
		t.Fatalf("heartbeat after restore: %v", err)
	}
	if d := c2.describe("g"); d.State != group.Stable || len(d.Members) != 2 {
		t.Fatalf("restored: %+v", d)
	}
	c2.restoreGroup("g", nil)
	if d := c2.describe("g"); d.State != group.Dead {
		t.Fatalf("after a tombstone: %+v", d)
	}
}

// TestCoordinatorDeleteAndCommits: DeleteGroups, the groupMembership
// answers, and group cleanup.
func TestCoordinatorDeleteAndCommits(t *testing.T) {
	c, st := testCoordinator(t)
	ctx := testCtx(t)
	if err := c.deleteGroup("nope"); err != kerr.GroupIDNotFound {
		t.Fatalf("delete unknown: %v", err)
	}
	// An offsets-only group (a broker restart forgot its membership).
	st.offsets["old"] = true
	if d := c.describe("old"); d.State != group.Empty {
		t.Fatalf("offsets-only group: %+v", d)
	}
	if err := c.deleteGroup("old"); err != nil || !slices.Contains(st.deleted, "old") {
		t.Fatalf("delete offsets-only: %v %v", err, st.deleted)
	}

	a := c.join(ctx, "g", consumerJoin("", "a", "t"))
	if err := c.checkCommit("g", a.MemberID, nil, 1); err != kerr.RebalanceInProgress {
		t.Fatalf("commit before the assignment: %v", err)
	}
	c.sync(ctx, "g", group.Sync{MemberID: a.MemberID, Generation: 1})
	if err := c.checkCommit("g", a.MemberID, nil, 1); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := c.checkCommit("g", a.MemberID, nil, 0); err != kerr.IllegalGeneration {
		t.Fatalf("stale commit: %v", err)
	}
	if _, empty, known := c.groupEmptySince("g"); empty || !known {
		t.Fatalf("g: empty %v known %v", empty, known)
	}
	if err := c.deleteGroup("g"); err != kerr.NonEmptyGroup {
		t.Fatalf("delete a group with members: %v", err)
	}
	before := time.Now()
	if errs := c.leave("g", []group.LeaveMember{{MemberID: a.MemberID}}); errs[0] != nil {
		t.Fatalf("leave: %v", errs[0])
	}
	if since, empty, known := c.groupEmptySince("g"); !empty || !known || since < before.UnixMilli()-1 {
		t.Fatalf("after leave: since %d empty %v known %v", since, empty, known)
	}
	if err := c.deleteGroup("g"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	st.mu.Lock()
	_, kept := st.values["g"]
	st.mu.Unlock()
	if kept || !slices.Contains(st.deleted, "g") {
		t.Fatalf("delete left metadata %v or offsets %v", kept, st.deleted)
	}
	if _, _, known := c.groupEmptySince("g"); known {
		t.Fatal("deleted group still known")
	}

	// Simple commits to an unknown group create it, Empty, as Kafka does;
	// a member's commit to it is from a generation that does not exist.
	if err := c.checkCommit("simple", "", nil, -1); err != nil {
		t.Fatalf("simple commit: %v", err)
	}
	if _, _, known := c.groupEmptySince("simple"); known {
		t.Fatal("a simple group's offsets should expire by their commit times")
	}
	if err := c.checkCommit("other", "m", nil, 3); err != kerr.IllegalGeneration {
		t.Fatalf("member commit to an unknown group: %v", err)
	}
	if gs := c.list(); len(gs) != 1 || gs[0].name != "simple" || gs[0].state != group.Empty {
		t.Fatalf("list: %+v", gs)
	}
	// Cleanup forgets Empty groups without offsets after a while.
	c.cleanup(time.Now().Add(groupCleanupInterval - time.Second))
	if len(c.list()) != 1 {
		t.Fatal("cleanup too early")
	}
	st.offsets["simple"] = true
	c.cleanup(time.Now().Add(groupCleanupInterval + time.Second))
	if len(c.list()) != 1 {
		t.Fatal("cleanup removed a group with offsets")
	}
	st.offsets["simple"] = false
	c.cleanup(time.Now().Add(groupCleanupInterval + time.Second))
	if gs := c.list(); len(gs) != 0 {
		t.Fatalf("cleanup kept %+v", gs)
	}
}

// TestCoordinatorCloseReleasesWaiters: a JoinGroup waiting for a join
// phase returns when the broker closes.
func TestCoordinatorCloseReleasesWaiters(t *testing.T) {
	c, _ := testCoordinator(t)
	ctx := testCtx(t)
	a := c.join(ctx, "g", consumerJoin("", "a", "t"))
	c.sync(ctx, "g", group.Sync{MemberID: a.MemberID, Generation: 1})
	closing, closeBroker := context.WithCancel(ctx)
	res := make(chan group.JoinResult, 1)
	go func() { res <- c.join(closing, "g", consumerJoin("", "b", "t")) }()
	time.Sleep(50 * time.Millisecond)
	closeBroker()
	select {
	case r := <-res:
		if r.Err == nil {
			t.Fatalf("join answered %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("join still waiting after close")
	}
}

func TestFormatAssignments(t *testing.T) {
	as := []group.MemberAssignment{
		{MemberID: "m1", Assignment: consumerAssignment("orders", 0, 1)},
		{MemberID: "m2"},
		{MemberID: "m3", Assignment: []byte{1, 2, 3}},
	}
	if got, want := formatAssignments("consumer", as), "m1=[orders:0,1] m2=[] m3=<3 bytes>"; got != want {
		t.Fatalf("consumer: %q, want %q", got, want)
	}
	if got, want := formatAssignments("connect", as[:1]), fmt.Sprintf("m1=<%d bytes>", len(as[0].Assignment)); got != want {
		t.Fatalf("connect: %q, want %q", got, want)
	}
}

// FuzzGroupMetadata: the decoder of stored group metadata never panics,
// and what it accepts encodes back to a value that decodes the same.
func FuzzGroupMetadata(f *testing.F) {
	f.Add(encodeGroupMetadata(group.Snapshot{ProtocolType: "consumer", Generation: 7, Protocol: "range", Leader: "a",
		StateSince: time.UnixMilli(1700000000000), Members: []group.SnapshotMember{{MemberID: "a", InstanceID: "i",
			ClientID: "c", ClientHost: "/h", SessionTimeout: time.Second, RebalanceTimeout: time.Minute,
			Metadata: []byte{1}, Assignment: []byte{2}}}}))
	f.Add(encodeGroupMetadata(group.Snapshot{ProtocolType: "consumer", Generation: 3, StateSince: time.UnixMilli(5)}))
	for v := int16(0); v <= 4; v++ {
		gv := kmsg.NewGroupMetadataValue()
		gv.Version, gv.ProtocolType = v, "consumer"
		f.Add(gv.AppendTo(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeGroupMetadata(b)
		if err != nil {
			return
		}
		again, err := decodeGroupMetadata(encodeGroupMetadata(s))
		if err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(s)) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, s)
		}
	})
}

// normalize makes empty and nil byte slices equal.
func normalize(s group.Snapshot) group.Snapshot {
	for i := range s.Members {
		m := &s.Members[i]
		if len(m.Metadata) == 0 {
			m.Metadata = nil
		}
		if len(m.Assignment) == 0 {
			m.Assignment = nil
		}
	}
	return s
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ============================================================================
// The protocol on the wire, version by version
// ============================================================================

// groupBroker is a broker with group timeouts short enough for tests.
func groupBroker(t *testing.T, delay time.Duration) *testBroker {
	return startBroker(t, "", func(c *Config) {
		c.GroupInitialRebalanceDelay = delay
		c.GroupMinSessionTimeout = 100 * time.Millisecond
	})
}

func joinRequest(grp, member string, protocols ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.MemberID, req.ProtocolType = grp, member, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 5000
	for _, p := range protocols {
		rp := kmsg.NewJoinGroupRequestProtocol()
		rp.Name, rp.Metadata = p, []byte("meta-"+p)
		req.Protocols = append(req.Protocols, rp)
	}
	return req
}

// wireJoin joins grp as a new member at version v (with the KIP-394 round
// trip from v4) and returns the answer.
func wireJoin(t *testing.T, w *wireConn, v int16, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	t.Helper()
	resp := w.do(req, v).(*kmsg.JoinGroupResponse)
	if v >= 4 && req.MemberID == "" && (req.InstanceID == nil || v < 5) {
		if resp.ErrorCode != kerr.MemberIDRequired.Code || resp.MemberID == "" {
			t.Fatalf("JoinGroup v%d: want MEMBER_ID_REQUIRED and an id, got %v %q", v, kerr.ErrorForCode(resp.ErrorCode), resp.MemberID)
		}
		req.MemberID = resp.MemberID
		resp = w.do(req, v).(*kmsg.JoinGroupResponse)
	}
	return resp
}

func syncRequest(grp, member string, gen int32, assign map[string][]byte) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.Generation = grp, member, gen
	for m, a := range assign {
		ra := kmsg.NewSyncGroupRequestGroupAssignment()
		ra.MemberID, ra.MemberAssignment = m, a
		req.GroupAssignment = append(req.GroupAssignment, ra)
	}
	return req
}

// TestGroupWireVersions: a one-member group's whole life at every version
// of JoinGroup (0-9), SyncGroup (0-5), Heartbeat (0-4), LeaveGroup (0-5),
// DescribeGroups (0-5) and DeleteGroups (0-2).
func TestGroupWireVersions(t *testing.T) {
	tb := groupBroker(t, 0)
	w := dialWire(t, tb)
	for v := int16(0); v <= 9; v++ {
		grp := fmt.Sprintf("g%d", v)
		req := joinRequest(grp, "", "range", "roundrobin")
		if v >= 5 {
			req.InstanceID = kmsg.StringPtr("inst")
		}
		if v >= 8 {
			req.Reason = kmsg.StringPtr("testing")
		}
		j := wireJoin(t, w, v, req)
		if j.ErrorCode != 0 || j.Generation != 1 || j.LeaderID != j.MemberID || deref(j.Protocol) != "range" || len(j.Members) != 1 {
			t.Fatalf("JoinGroup v%d: %+v", v, j)
		}
		if v >= 5 && deref(j.Members[0].InstanceID) != "inst" || v >= 7 && deref(j.ProtocolType) != "consumer" {
			t.Fatalf("JoinGroup v%d fields: %+v", v, j)
		}
		if v >= 5 && !strings.HasPrefix(j.MemberID, "inst-") || v < 5 && !strings.HasPrefix(j.MemberID, "wire-test-") {
			t.Fatalf("JoinGroup v%d member id %q", v, j.MemberID)
		}
		sv := min(v, 5)
		s := syncRequest(grp, j.MemberID, 1, map[string][]byte{j.MemberID: consumerAssignment("t", 0)})
		if sv >= 3 && v >= 5 {
			s.InstanceID = req.InstanceID
		}
		if sv >= 5 {
			s.ProtocolType, s.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
		}
		sr := w.do(s, sv).(*kmsg.SyncGroupResponse)
		if sr.ErrorCode != 0 || !bytes.Equal(sr.MemberAssignment, consumerAssignment("t", 0)) || sv >= 5 && deref(sr.Protocol) != "range" {
			t.Fatalf("SyncGroup v%d: %+v", sv, sr)
		}
		hv := min(v, 4)
		hb := &kmsg.HeartbeatRequest{Group: grp, MemberID: j.MemberID, Generation: 1}
		if hv >= 3 && v >= 5 {
			hb.InstanceID = req.InstanceID
		}
		if r := w.do(hb, hv).(*kmsg.HeartbeatResponse); r.ErrorCode != 0 {
			t.Fatalf("Heartbeat v%d: %v", hv, kerr.ErrorForCode(r.ErrorCode))
		}
		dv := min(v, 5)
		d := w.do(&kmsg.DescribeGroupsRequest{Groups: []string{grp}}, dv).(*kmsg.DescribeGroupsResponse)
		if g := d.Groups[0]; g.ErrorCode != 0 || g.State != "Stable" || g.Protocol != "range" || len(g.Members) != 1 ||
			!bytes.Equal(g.Members[0].MemberAssignment, consumerAssignment("t", 0)) || g.Members[0].ClientHost != "/127.0.0.1" {
			t.Fatalf("DescribeGroups v%d: %+v", dv, d.Groups[0])
		}
		if r := w.do(&kmsg.DeleteGroupsRequest{Groups: []string{grp}}, min(v, 2)).(*kmsg.DeleteGroupsResponse); r.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code {
			t.Fatalf("DeleteGroups of a live group: %v", kerr.ErrorForCode(r.Groups[0].ErrorCode))
		}
		lv := min(v, 5)
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Group, leave.MemberID = grp, j.MemberID
		if lv >= 3 {
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID, m.InstanceID = j.MemberID, req.InstanceID
			leave.Members = append(leave.Members, m)
		}
		lr := w.do(leave, lv).(*kmsg.LeaveGroupResponse)
		if lr.ErrorCode != 0 || lv >= 3 && (len(lr.Members) != 1 || lr.Members[0].ErrorCode != 0) {
			t.Fatalf("LeaveGroup v%d: %+v", lv, lr)
		}
		if r := w.do(&kmsg.DeleteGroupsRequest{Groups: []string{grp}}, min(v, 2)).(*kmsg.DeleteGroupsResponse); r.Groups[0].ErrorCode != 0 {
			t.Fatalf("DeleteGroups v%d: %v", min(v, 2), kerr.ErrorForCode(r.Groups[0].ErrorCode))
		}
		if r := w.do(&kmsg.DeleteGroupsRequest{Groups: []string{grp}}, min(v, 2)).(*kmsg.DeleteGroupsResponse); r.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("DeleteGroups again: %v", kerr.ErrorForCode(r.Groups[0].ErrorCode))
		}
	}
}

// TestGroupFindCoordinator: this broker coordinates every group, one key
// or (v4) many; an empty key or an unknown key type is refused.
func TestGroupFindCoordinator(t *testing.T) {
	tb := groupBroker(t, 0)
	host, port := tb.advertised()
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version = v
		req.CoordinatorKey, req.CoordinatorKeys = "g", []string{"g", "h"}
		r, _ := handleFindCoordinator(tb.Broker, nil, requestHeader{key: 10, version: v}, req)
		resp := r.(*kmsg.FindCoordinatorResponse)
		if v < 4 && (resp.ErrorCode != 0 || resp.NodeID != tb.cfg.NodeID || resp.Host != host || resp.Port != port) {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if v == 4 && (len(resp.Coordinators) != 2 || resp.Coordinators[1].Key != "h" || resp.Coordinators[1].Port != port) {
			t.Fatalf("v4: %+v", resp)
		}
		req.CoordinatorKey, req.CoordinatorKeys = "", []string{""}
		r, _ = handleFindCoordinator(tb.Broker, nil, requestHeader{key: 10, version: v}, req)
		resp = r.(*kmsg.FindCoordinatorResponse)
		if v < 4 && resp.ErrorCode != kerr.InvalidRequest.Code || v == 4 && resp.Coordinators[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("v%d empty key: %+v", v, resp)
		}
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey, req.CoordinatorType = "x", 7
	r, _ := handleFindCoordinator(tb.Broker, nil, requestHeader{key: 10, version: 3}, req)
	if r.(*kmsg.FindCoordinatorResponse).ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("unknown key type: %+v", r)
	}
	// A client finds it too.
	for _, res := range newAdmin(t, tb).FindGroupCoordinators(testCtx(t), "g", "h") {
		if res.Err != nil || res.NodeID != tb.cfg.NodeID {
			t.Fatalf("kadm: %+v", res)
		}
	}
}

// TestGroupBadInput: the protocol's refusals, each changing nothing.
func TestGroupBadInput(t *testing.T) {
	tb := groupBroker(t, 0)
	w := dialWire(t, tb)
	joinErr := func(req *kmsg.JoinGroupRequest, v int16) *kerr.Error {
		return codeErr(w.do(req, v).(*kmsg.JoinGroupResponse).ErrorCode)
	}
	for v := int16(0); v <= 9; v++ {
		if err := joinErr(joinRequest("g", ""), v); err != kerr.InconsistentGroupProtocol {
			t.Fatalf("JoinGroup v%d with no protocols: %v", v, err)
		}
		noType := joinRequest("g", "", "range")
		noType.ProtocolType = ""
		if err := joinErr(noType, v); err != kerr.InconsistentGroupProtocol {
			t.Fatalf("JoinGroup v%d with no protocol type: %v", v, err)
		}
		if err := joinErr(joinRequest("", "", "range"), v); err != kerr.InvalidGroupID {
			t.Fatalf("JoinGroup v%d with no group: %v", v, err)
		}
		big := joinRequest("g", "", "range")
		big.Protocols[0].Metadata = make([]byte, group.MaxMetadataBytes+1)
		if err := joinErr(big, v); err != kerr.InvalidRequest {
			t.Fatalf("JoinGroup v%d with oversized metadata: %v", v, err)
		}
		short := joinRequest("g", "", "range")
		short.SessionTimeoutMillis = 50
		if err := joinErr(short, v); err != kerr.InvalidSessionTimeout {
			t.Fatalf("JoinGroup v%d with a short session: %v", v, err)
		}
	}
	if d := tb.groups.describe("g"); d.State != group.Empty || len(d.Members) != 0 {
		t.Fatalf("refusals changed the group: %+v", d)
	}

	// One member forms generation 1 with range.
	j := wireJoin(t, w, 9, joinRequest("g", "", "range"))
	if s := w.do(syncRequest("g", j.MemberID, 1, nil), 5).(*kmsg.SyncGroupResponse); s.ErrorCode != 0 {
		t.Fatalf("sync: %v", kerr.ErrorForCode(s.ErrorCode))
	}
	// No shared protocol, another protocol type: refused.
	if err := joinErr(joinRequest("g", "", "sticky"), 3); err != kerr.InconsistentGroupProtocol {
		t.Fatalf("no shared protocol: %v", err)
	}
	other := joinRequest("g", "", "range")
	other.ProtocolType = "connect"
	if err := joinErr(other, 3); err != kerr.InconsistentGroupProtocol {
		t.Fatalf("other protocol type: %v", err)
	}
	// Fencing on Heartbeat and SyncGroup.
	hb := func(member string, gen int32) *kerr.Error {
		r := w.do(&kmsg.HeartbeatRequest{Group: "g", MemberID: member, Generation: gen}, 4).(*kmsg.HeartbeatResponse)
		return codeErr(r.ErrorCode)
	}
	sync := func(member string, gen int32) *kerr.Error {
		r := w.do(syncRequest("g", member, gen, nil), 5).(*kmsg.SyncGroupResponse)
		return codeErr(r.ErrorCode)
	}
	for _, c := range []struct {
		member string
		gen    int32
		want   *kerr.Error
	}{
		{j.MemberID, 1, nil},
		{j.MemberID, 0, kerr.IllegalGeneration},
		{j.MemberID, 2, kerr.IllegalGeneration},
		{"stranger", 1, kerr.UnknownMemberID},
		{"", 1, kerr.UnknownMemberID},
	} {
		if got := hb(c.member, c.gen); got != c.want {
			t.Fatalf("Heartbeat %q gen %d: %v, want %v", c.member, c.gen, got, c.want)
		}
		if got := sync(c.member, c.gen); got != c.want {
			t.Fatalf("SyncGroup %q gen %d: %v, want %v", c.member, c.gen, got, c.want)
		}
	}
	if r := w.do(&kmsg.HeartbeatRequest{Group: "nope", MemberID: "m", Generation: 1}, 4).(*kmsg.HeartbeatResponse); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat to an unknown group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := w.do(syncRequest("nope", "m", 1, nil), 5).(*kmsg.SyncGroupResponse); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("sync to an unknown group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	mismatch := syncRequest("g", j.MemberID, 1, nil)
	mismatch.Protocol = kmsg.StringPtr("roundrobin")
	if r := w.do(mismatch, 5).(*kmsg.SyncGroupResponse); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("sync naming another protocol: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = "g"
	for _, id := range []string{"stranger", j.MemberID} {
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = id
		leave.Members = append(leave.Members, m)
	}
	lr := w.do(leave, 5).(*kmsg.LeaveGroupResponse)
	if lr.ErrorCode != 0 || lr.Members[0].ErrorCode != kerr.UnknownMemberID.Code || lr.Members[1].ErrorCode != 0 {
		t.Fatalf("batched leave: %+v", lr)
	}
	if r := w.do(&kmsg.LeaveGroupRequest{Group: "g", MemberID: "stranger"}, 2).(*kmsg.LeaveGroupResponse); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave v2 unknown: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if d := w.do(&kmsg.DescribeGroupsRequest{Groups: []string{"nope", ""}}, 5).(*kmsg.DescribeGroupsResponse); d.Groups[0].State != "Dead" || d.Groups[1].ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatalf("describe unknown and empty: %+v", d.Groups)
	}
}

// TestGroupListStates: ListGroups at every version, and v4's state filter.
func TestGroupListStates(t *testing.T) {
	tb := groupBroker(t, 0)
	w := dialWire(t, tb)
	stable := wireJoin(t, w, 9, joinRequest("stable", "", "range"))
	w.do(syncRequest("stable", stable.MemberID, 1, nil), 5)
	j := wireJoin(t, w, 9, joinRequest("empty", "", "range"))
	w.do(&kmsg.LeaveGroupRequest{Group: "empty", MemberID: j.MemberID}, 2)
	wireJoin(t, w, 9, joinRequest("completing", "", "range"))
	list := func(v int16, states ...string) map[string]string {
		req := kmsg.NewPtrListGroupsRequest()
		req.StatesFilter = states
		r := w.do(req, v).(*kmsg.ListGroupsResponse)
		out := map[string]string{}
		for _, g := range r.Groups {
			if g.ProtocolType != "consumer" {
				t.Fatalf("ListGroups v%d: %+v", v, g)
			}
			out[g.Group] = g.GroupState
		}
		return out
	}
	for v := int16(0); v <= 4; v++ {
		if got := list(v); len(got) != 3 {
			t.Fatalf("ListGroups v%d: %v", v, got)
		}
	}
	want := map[string]string{"stable": "Stable", "completing": "CompletingRebalance", "empty": "Empty"}
	if got := list(4); !reflect.DeepEqual(got, want) {
		t.Fatalf("ListGroups v4: %v", got)
	}
	if got := list(4, "stable", "Empty"); len(got) != 2 || got["stable"] != "Stable" || got["empty"] != "Empty" {
		t.Fatalf("ListGroups v4 filtered: %v", got)
	}
	if got := list(4, "NoSuchState"); len(got) != 0 {
		t.Fatalf("ListGroups v4 unknown state: %v", got)
	}
}

// TestGroupRestart: a group's metadata survives a broker restart through
// __consumer_offsets: the generation is kept and so are the members, with
// fresh sessions, so a running member goes on heartbeating; one that does
// not is expired and the group empties.
func TestGroupRestart(t *testing.T) {
	dir := t.TempDir()
	mod := func(c *Config) {
		c.GroupInitialRebalanceDelay = 0
		c.GroupMinSessionTimeout = 100 * time.Millisecond
	}
	tb := startBroker(t, dir, mod)
	w := dialWire(t, tb)
	req := joinRequest("g", "", "range")
	req.SessionTimeoutMillis = 3000
	a := wireJoin(t, w, 9, req)
	req = joinRequest("g", "", "range")
	req.SessionTimeoutMillis = 3000
	req.InstanceID = kmsg.StringPtr("static")
	// The second member's join waits for the first to rejoin.
	bres := make(chan *kmsg.JoinGroupResponse, 1)
	w2 := dialWire(t, tb)
	go func() {
		r, err := w2.request(req, 9)
		if err != nil {
			t.Error(err)
		}
		bres <- r.(*kmsg.JoinGroupResponse)
	}()
	waitFor(t, "the rebalance", func() bool {
		r := w.do(&kmsg.HeartbeatRequest{Group: "g", MemberID: a.MemberID, Generation: 1}, 4).(*kmsg.HeartbeatResponse)
		return r.ErrorCode == kerr.RebalanceInProgress.Code
	})
	a = w.do(joinRequest("g", a.MemberID, "range"), 9).(*kmsg.JoinGroupResponse)
	b := <-bres
	if a.ErrorCode != 0 || b.ErrorCode != 0 || a.Generation != 2 {
		t.Fatalf("generation 2: %+v %+v", a, b)
	}
	assign := map[string][]byte{a.MemberID: consumerAssignment("t", 0), b.MemberID: consumerAssignment("t", 1)}
	if r := w.do(syncRequest("g", a.MemberID, 2, assign), 5).(*kmsg.SyncGroupResponse); r.ErrorCode != 0 {
		t.Fatalf("sync: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	tb.stop(t)

	tb = startBroker(t, dir, mod)
	if !strings.Contains(tb.logs.String(), "committed offsets loaded") {
		t.Logf("broker log:\n%s", tb.logs.String())
	}
	w = dialWire(t, tb)
	d := w.do(&kmsg.DescribeGroupsRequest{Groups: []string{"g"}}, 5).(*kmsg.DescribeGroupsResponse).Groups[0]
	if d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("after restart: %+v", d)
	}
	for _, m := range d.Members {
		if !bytes.Equal(m.MemberAssignment, assign[m.MemberID]) {
			t.Fatalf("member %s assignment %x, want %x", m.MemberID, m.MemberAssignment, assign[m.MemberID])
		}
	}
	if gen := groupGeneration(t, tb, "g"); gen != 2 {
		t.Fatalf("generation after restart %d", gen)
	}
	// a goes on heartbeating; b (static) does not and expires.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		r := w.do(&kmsg.HeartbeatRequest{Group: "g", MemberID: a.MemberID, Generation: 2}, 4).(*kmsg.HeartbeatResponse)
		if r.ErrorCode == kerr.RebalanceInProgress.Code {
			break
		}
		if r.ErrorCode != 0 {
			t.Fatalf("heartbeat after restart: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(tb.logs.String(), "cause=session-expiry member="+b.MemberID) {
		t.Fatalf("b did not expire; log:\n%s", tb.logs.String())
	}
}

// codeErr is the error a code stands for, nil for none.
func codeErr(code int16) *kerr.Error {
	if err, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return err
	}
	return nil
}

// groupGeneration reads a group's generation from the coordinator.
func groupGeneration(t testing.TB, tb *testBroker, name string) int32 {
	t.Helper()
	e := tb.groups.entry(name, false)
	if e == nil {
		t.Fatalf("no group %q", name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mu.g.Generation()
}
