package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Committed offsets (offsets.go and the OffsetCommit, OffsetFetch and
// OffsetDelete handlers) against a real broker: raw requests at every
// version, franz-go's and sarama's offset APIs and group consumer, the
// internal topic itself. Restarts, expiry and compaction are in
// offsets_durability_test.go, a SIGKILL of the broker process in
// offsets_restart_test.go.

// --- helpers ---

// userTopicCount counts the topics a client created (not the internal ones).
func userTopicCount(tb *testBroker) int {
	n := 0
	for _, t := range tb.topics.all() {
		if !isInternalTopic(t.name) {
			n++
		}
	}
	return n
}

// commitRequest builds an OffsetCommit of offsets[topic][partition] with
// the metadata "md-<offset>".
func commitRequest(group string, generation int32, member string, offsets map[string]map[int32]int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = group, generation, member
	for _, topic := range sortedKeys(offsets) {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		for p := int32(0); p < 1000; p++ {
			off, ok := offsets[topic][p]
			if !ok {
				continue
			}
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.Metadata = p, off, kmsg.StringPtr(fmt.Sprintf("md-%d", off))
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// commitCodes flattens a commit response to "topic/partition" → code.
func commitCodes(resp *kmsg.OffsetCommitResponse) map[string]int16 {
	out := map[string]int16{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[fmt.Sprintf("%s/%d", t.Topic, p.Partition)] = p.ErrorCode
		}
	}
	return out
}

// committedState is every group's committed offsets, as the store holds
// them, for comparisons across restarts.
func committedState(tb *testBroker) map[string]map[topicPartition]committedOffset {
	out := map[string]map[topicPartition]committedOffset{}
	for _, sh := range tb.offsets.shards {
		sh.mu.Lock()
		for g, st := range sh.mu.groups {
			if len(st.offsets) == 0 {
				continue
			}
			m := map[topicPartition]committedOffset{}
			for tp, c := range st.offsets {
				m[tp] = c
			}
			out[g] = m
		}
		sh.mu.Unlock()
	}
	return out
}

// offsetsPartition returns the partition of __consumer_offsets holding group.
func offsetsPartition(t testing.TB, tb *testBroker, group string) *partition {
	t.Helper()
	return tb.offsets.shard(group).p
}

// fakeMembership is a groupMembership whose answers a test sets.
type fakeMembership struct {
	mu         sync.Mutex
	members    map[string]bool  // groups with members
	emptySince map[string]int64 // known empty groups
	restored   map[string][]byte
	restores   int
}

func newFakeMembership() *fakeMembership {
	return &fakeMembership{members: map[string]bool{}, emptySince: map[string]int64{}, restored: map[string][]byte{}}
}

func (f *fakeMembership) checkCommit(group, member string, _ *string, generation int32) *kerr.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case generation < 0 && !f.members[group]:
		return nil
	case !f.members[group]:
		return kerr.IllegalGeneration
	case member != "m1":
		return kerr.UnknownMemberID
	case generation != 1:
		return kerr.IllegalGeneration
	}
	return nil
}

func (f *fakeMembership) groupEmptySince(group string) (int64, bool, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.members[group] {
		return 0, false, true
	}
	since, known := f.emptySince[group]
	return since, true, known
}

func (f *fakeMembership) restoreGroup(group string, value []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restored[group] = value
	f.restores++
}

// startBrokerWith is startBroker with membership m in place of the
// standalone one, set before the broker serves.
func startBrokerWith(t *testing.T, dir string, m groupMembership, mod func(*Config)) *testBroker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.OffsetsTopicNumPartitions = "127.0.0.1:0", dir, 3
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	b.coord, b.offsets.members = m, m
	tb := &testBroker{Broker: b, logs: logs, done: make(chan error, 1)}
	go func() { tb.done <- b.Serve() }()
	t.Cleanup(func() {
		tb.stop(t)
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	return tb
}

// consumerGroupValue is a GroupMetadataValue of a consumer group whose
// one member subscribes to topics.
func consumerGroupValue(generation int32, topics ...string) []byte {
	sub := kmsg.NewConsumerMemberMetadata()
	sub.Topics = topics
	m := kmsg.NewGroupMetadataValueMember()
	m.MemberID, m.ClientID, m.ClientHost, m.SessionTimeoutMillis = "m1", "c", "/127.0.0.1", 10000
	m.Subscription = sub.AppendTo(nil)
	v := kmsg.NewGroupMetadataValue()
	v.Version, v.ProtocolType, v.Generation = 3, "consumer", generation
	v.Protocol, v.Leader = kmsg.StringPtr("range"), kmsg.StringPtr("m1")
	v.Members = append(v.Members, m)
	return v.AppendTo(nil)
}

// --- the topic ---

// TestGroupPartitionIsKafkas: a group's partition of __consumer_offsets
// is Kafka's abs(String.hashCode) % partitions.
func TestGroupPartitionIsKafkas(t *testing.T) {
	for _, c := range []struct {
		s    string
		hash int32
	}{
		{"", 0},
		{"hello", 99162322},
		{"polygenelubricants", math.MinInt32}, // Kafka's Utils.abs makes it 0
		{"\U0001F600", 55357*31 + 56832},      // a surrogate pair: two UTF-16 units
		{"\xff", 0xfffd},                      // invalid UTF-8 decodes as U+FFFD
	} {
		if got := javaStringHash(c.s); got != c.hash {
			t.Errorf("hash(%q) = %d, want %d", c.s, got, c.hash)
		}
	}
	if p := groupPartition("polygenelubricants", 50); p != 0 {
		t.Errorf("partition of a MinInt32 hash: %d", p)
	}
	// "console-consumer-1" hashes negative: abs, then modulo.
	h := javaStringHash("console-consumer-1")
	want := h
	if want < 0 {
		want = -want
	}
	if p := groupPartition("console-consumer-1", 50); p != want%50 {
		t.Errorf("partition %d, want %d (hash %d)", p, want%50, h)
	}
}

// TestOffsetsTopic: __consumer_offsets exists from the start with
// offsets.topic.num.partitions partitions, compacted, internal in
// Metadata, and clients can neither delete it, grow it nor produce to it.
func TestOffsetsTopic(t *testing.T) {
	tb := startBroker(t, "", func(c *Config) { c.OffsetsTopicNumPartitions = 50 })
	adm, ctx := newAdmin(t, tb), testCtx(t)
	if n := len(tb.offsets.shards); n != 50 {
		t.Fatalf("%d shards", n)
	}
	topics, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := topics[offsetsTopic]; !d.IsInternal || len(d.Partitions) != 50 {
		t.Fatalf("%s: internal %v, %d partitions", offsetsTopic, d.IsInternal, len(d.Partitions))
	}
	if user, err := adm.ListTopics(ctx); err != nil || user.Has(offsetsTopic) {
		t.Fatalf("kadm lists the internal topic among the user's: %v %v", err, user.Names())
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, offsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfgs[0].Configs {
		if c.Key == "cleanup.policy" && (c.Value == nil || *c.Value != "compact") {
			t.Fatalf("cleanup.policy %v", c.Value)
		}
	}

	resp, err := adm.DeleteTopics(ctx, offsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete "+offsetsTopic, resp[offsetsTopic].Err, kerr.InvalidRequest)
	cp, err := adm.CreatePartitions(ctx, 10, offsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "grow "+offsetsTopic, cp[offsetsTopic].Err, kerr.InvalidRequest)
	cl := newClient(t, tb, kgo.RecordRetries(0))
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: offsetsTopic, Value: []byte("x")}).FirstErr()
	wantErr(t, "produce to "+offsetsTopic, err, kerr.InvalidTopicException)
	if _, ok := tb.topics.get(offsetsTopic); !ok {
		t.Fatal("the topic is gone")
	}

	// A restart with another setting keeps the topic as it is.
	dir := tb.cfg.DataDir
	tb.stop(t)
	tb2 := startBroker(t, dir, func(c *Config) { c.OffsetsTopicNumPartitions = 7 })
	if n := len(tb2.offsets.shards); n != 50 {
		t.Fatalf("%d shards after restart with 7 configured", n)
	}
}

// --- OffsetCommit and OffsetFetch on the wire ---

// TestOffsetCommitFetchVersions commits at every version and fetches at
// every version: offsets, metadata strings and (v5+) leader epochs come
// back, and each commit lands as one batch in the group's partition of
// __consumer_offsets.
func TestOffsetCommitFetchVersions(t *testing.T) {
	tb := startBroker(t, "", nil)
	createTopic(t, tb, "t", 3, nil)
	pc := dialPinned(t, tb)
	for cv := int16(0); cv <= 8; cv++ {
		group := fmt.Sprintf("g%d", cv)
		p := offsetsPartition(t, tb, group)
		end := p.log.EndOffset()
		req := commitRequest(group, -1, "", map[string]map[int32]int64{"t": {0: 10 + int64(cv), 2: 20}})
		req.Topics[0].Partitions[0].LeaderEpoch = 4
		resp := pc.do(req, cv).(*kmsg.OffsetCommitResponse)
		for k, code := range commitCodes(resp) {
			if code != 0 {
				t.Fatalf("commit v%d %s: %v", cv, k, kerr.ErrorForCode(code))
			}
		}
		if got := p.log.EndOffset(); got != end+2 {
			t.Fatalf("commit v%d: %s log end %d -> %d, want two records", cv, offsetsTopic, end, got)
		}
		for fv := int16(0); fv <= 8; fv++ {
			got := fetchOne(t, pc, fv, group, "t", 0)
			epoch := int32(-1)
			if cv >= 6 && fv >= 5 {
				epoch = 4
			}
			if got.Offset != 10+int64(cv) || got.Metadata == nil || *got.Metadata != fmt.Sprintf("md-%d", 10+cv) ||
				got.LeaderEpoch != epoch || got.ErrorCode != 0 {
				t.Fatalf("commit v%d fetch v%d: %+v", cv, fv, got)
			}
			if none := fetchOne(t, pc, fv, group, "t", 1); none.Offset != -1 || none.ErrorCode != 0 {
				t.Fatalf("fetch v%d of an uncommitted partition: %+v", fv, none)
			}
		}
	}
}

// fetchOne fetches one partition's committed offset at version v.
func fetchOne(t *testing.T, pc *pinnedConn, v int16, group, topic string, partition int32) kmsg.OffsetFetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	if v >= 8 {
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = group
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = topic, []int32{partition}
		g.Topics = append(g.Topics, gt)
		req.Groups = append(req.Groups, g)
		resp := pc.do(req, v).(*kmsg.OffsetFetchResponse)
		if len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 || len(resp.Groups[0].Topics) != 1 {
			t.Fatalf("fetch v%d: %+v", v, resp)
		}
		gp := resp.Groups[0].Topics[0].Partitions[0]
		return kmsg.OffsetFetchResponseTopicPartition{Partition: gp.Partition, Offset: gp.Offset,
			LeaderEpoch: gp.LeaderEpoch, Metadata: gp.Metadata, ErrorCode: gp.ErrorCode}
	}
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	req.Topics = append(req.Topics, rt)
	resp := pc.do(req, v).(*kmsg.OffsetFetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch v%d: %+v", v, resp)
	}
	return resp.Topics[0].Partitions[0]
}

// TestOffsetFetchAllAndBatched: a null topic list (v2+) returns every
// offset of the group, in order; v8 answers many groups at once, an
// unknown one with nothing (all) or -1 (named partitions).
func TestOffsetFetchAllAndBatched(t *testing.T) {
	tb := startBroker(t, "", nil)
	createTopic(t, tb, "a", 2, nil)
	createTopic(t, tb, "b", 1, nil)
	pc := dialPinned(t, tb)
	pc.do(commitRequest("g1", -1, "", map[string]map[int32]int64{"b": {0: 3}, "a": {1: 2, 0: 1}}), 8)
	pc.do(commitRequest("g2", -1, "", map[string]map[int32]int64{"a": {0: 7}}), 8)

	for v := int16(2); v <= 7; v++ {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = "g1" // Topics nil: all
		resp := pc.do(req, v).(*kmsg.OffsetFetchResponse)
		var got []string
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				got = append(got, fmt.Sprintf("%s/%d@%d", rt.Topic, rp.Partition, rp.Offset))
			}
		}
		if want := "a/0@1 a/1@2 b/0@3"; strings.Join(got, " ") != want {
			t.Fatalf("fetch all v%d: %v, want %s", v, got, want)
		}
	}

	req := kmsg.NewPtrOffsetFetchRequest()
	for _, g := range []string{"g1", "g2", "nobody"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		req.Groups = append(req.Groups, rg)
	}
	named := kmsg.NewOffsetFetchRequestGroup()
	named.Group = "nobody"
	nt := kmsg.NewOffsetFetchRequestGroupTopic()
	nt.Topic, nt.Partitions = "no-such-topic", []int32{0, 5}
	named.Topics = append(named.Topics, nt)
	req.Groups = append(req.Groups, named)
	resp := pc.do(req, 8).(*kmsg.OffsetFetchResponse)
	if len(resp.Groups) != 4 {
		t.Fatalf("%d groups answered", len(resp.Groups))
	}
	count := func(g kmsg.OffsetFetchResponseGroup) (n int) {
		for _, t := range g.Topics {
			n += len(t.Partitions)
		}
		return n
	}
	if count(resp.Groups[0]) != 3 || count(resp.Groups[1]) != 1 || resp.Groups[1].Topics[0].Partitions[0].Offset != 7 ||
		count(resp.Groups[2]) != 0 {
		t.Fatalf("batched fetch: %+v", resp.Groups)
	}
	for _, p := range resp.Groups[3].Topics[0].Partitions {
		if p.Offset != -1 || p.ErrorCode != 0 {
			t.Fatalf("unknown group and topic: %+v", p)
		}
	}
}

// TestOffsetCommitBadInput: partitions of unknown topics, partitions out
// of range, oversized metadata and commits from a generation that does
// not exist get their error code and change nothing; the good partitions
// of the same request are stored.
func TestOffsetCommitBadInput(t *testing.T) {
	tb := startBroker(t, "", func(c *Config) { c.OffsetMetadataMaxBytes = 16 })
	createTopic(t, tb, "t", 2, nil)
	pc := dialPinned(t, tb)
	p := offsetsPartition(t, tb, "g")
	end := p.log.EndOffset()

	// Nothing valid: nothing is written.
	resp := pc.do(commitRequest("g", -1, "", map[string]map[int32]int64{"nope": {0: 5}, "t": {2: 5}}), 8).(*kmsg.OffsetCommitResponse)
	if c := commitCodes(resp); c["nope/0"] != kerr.UnknownTopicOrPartition.Code || c["t/2"] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic/partition: %v", c)
	}
	if p.log.EndOffset() != end || tb.offsets.hasOffsets("g") {
		t.Fatal("a refused commit was written")
	}

	// Mixed: the good partition is stored, the others not.
	req := commitRequest("g", -1, "", map[string]map[int32]int64{"t": {0: 5, 1: 6}, "nope": {0: 1}})
	req.Topics[1].Partitions[1].Metadata = kmsg.StringPtr(strings.Repeat("x", 17))
	c := commitCodes(pc.do(req, 8).(*kmsg.OffsetCommitResponse))
	if c["t/0"] != 0 || c["t/1"] != kerr.OffsetMetadataTooLarge.Code || c["nope/0"] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("mixed commit: %v", c)
	}
	if p.log.EndOffset() != end+1 {
		t.Fatalf("%d records written, want 1", p.log.EndOffset()-end)
	}
	want := map[topicPartition]committedOffset{{"t", 0}: {offset: 5, leaderEpoch: -1, metadata: "md-5", expireMs: -1}}
	if got := clearTimes(committedState(tb)["g"]); !reflect.DeepEqual(got, want) {
		t.Fatalf("state %+v, want %+v", got, want)
	}

	// A generation nobody has: refused, nothing changes.
	end = p.log.EndOffset()
	for _, v := range []int16{1, 5, 8} {
		c = commitCodes(pc.do(commitRequest("g", 3, "someone", map[string]map[int32]int64{"t": {0: 99, 1: 99}}), v).(*kmsg.OffsetCommitResponse))
		if c["t/0"] != kerr.IllegalGeneration.Code && c["t/0"] != kerr.UnknownMemberID.Code || c["t/1"] != c["t/0"] {
			t.Fatalf("stale generation v%d: %v", v, c)
		}
	}
	if p.log.EndOffset() != end || committedState(tb)["g"][topicPartition{"t", 0}].offset != 5 {
		t.Fatal("a stale generation's commit changed the offsets")
	}
	if o := fetchOne(t, pc, 8, "g", "t", 1); o.Offset != -1 {
		t.Fatalf("t/1 committed: %+v", o)
	}
}

func clearTimes(m map[topicPartition]committedOffset) map[topicPartition]committedOffset {
	out := map[topicPartition]committedOffset{}
	for tp, c := range m {
		c.commitMs = 0
		out[tp] = c
	}
	return out
}

// TestOffsetCommitMembershipChecks: the membership half judges member and
// generation; its refusals reach every partition and store nothing.
func TestOffsetCommitMembershipChecks(t *testing.T) {
	fm := newFakeMembership()
	fm.members["active"] = true
	tb := startBrokerWith(t, "", fm, nil)
	createTopic(t, tb, "t", 1, nil)
	pc := dialPinned(t, tb)
	for _, c := range []struct {
		member string
		gen    int32
		want   *kerr.Error
	}{
		{"", -1, kerr.UnknownMemberID}, // a simple commit to a group with members
		{"m2", 1, kerr.UnknownMemberID},
		{"m1", 0, kerr.IllegalGeneration},
		{"m1", 1, nil},
	} {
		code := commitCodes(pc.do(commitRequest("active", c.gen, c.member, map[string]map[int32]int64{"t": {0: 9}}), 8).(*kmsg.OffsetCommitResponse))["t/0"]
		if c.want == nil && code != 0 || c.want != nil && code != c.want.Code {
			t.Fatalf("member %q generation %d: %v, want %v", c.member, c.gen, kerr.ErrorForCode(code), c.want)
		}
		if stored := tb.offsets.hasOffsets("active"); stored != (c.want == nil) {
			t.Fatalf("member %q generation %d: stored %v", c.member, c.gen, stored)
		}
	}
}

// --- real clients ---

// TestOffsetsFranzGo: kadm commits and fetches offsets with metadata,
// offsets move only where committed, DeleteOffsets removes them.
func TestOffsetsFranzGo(t *testing.T) {
	tb := startBroker(t, "", nil)
	createTopic(t, tb, "t", 3, nil)
	adm, ctx := newAdmin(t, tb), testCtx(t)
	var first kadm.Offsets
	first.Add(kadm.Offset{Topic: "t", Partition: 0, At: 5, LeaderEpoch: -1, Metadata: "five"})
	first.Add(kadm.Offset{Topic: "t", Partition: 1, At: 6, LeaderEpoch: 0, Metadata: "six"})
	if err := adm.CommitAllOffsets(ctx, "kg", first); err != nil {
		t.Fatal(err)
	}
	var again kadm.Offsets
	again.Add(kadm.Offset{Topic: "t", Partition: 1, At: 8, LeaderEpoch: 0, Metadata: "eight"})
	if err := adm.CommitAllOffsets(ctx, "kg", again); err != nil {
		t.Fatal(err)
	}
	got, err := adm.FetchOffsets(ctx, "kg")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := got.Lookup("t", 0); o.At != 5 || o.Metadata != "five" || o.Err != nil {
		t.Fatalf("t/0: %+v", o)
	}
	if o, _ := got.Lookup("t", 1); o.At != 8 || o.Metadata != "eight" || o.LeaderEpoch != 0 {
		t.Fatalf("t/1: %+v", o)
	}
	if _, ok := got.Lookup("t", 2); ok {
		t.Fatal("t/2 has an offset")
	}
	var bad kadm.Offsets
	bad.Add(kadm.Offset{Topic: "missing", Partition: 0, At: 1, LeaderEpoch: -1})
	br, err := adm.CommitOffsets(ctx, "kg", bad)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := br.Lookup("missing", 0); !errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v", o.Err)
	}
	del, err := adm.DeleteOffsets(ctx, "kg", kadm.TopicsSet{"t": {0: {}}})
	if err != nil || del.Error() != nil {
		t.Fatalf("delete offsets: %v %v", err, del.Error())
	}
	if got, _ := adm.FetchOffsets(ctx, "kg"); func() bool { _, ok := got.Lookup("t", 0); return ok }() {
		t.Fatal("t/0 still committed")
	}
}

// TestOffsetsSarama: sarama's OffsetManager commits (v8, and v1 as an old
// client) and reads its offsets back; its admin lists them.
func TestOffsetsSarama(t *testing.T) {
	tb := startBroker(t, "", nil)
	createTopic(t, tb, "t", 2, nil)
	for _, v := range []sarama.KafkaVersion{sarama.V0_8_2_0, sarama.V2_1_0_0, sarama.V2_8_0_0} {
		group := "sg-" + v.String()
		cfg := sarama.NewConfig()
		cfg.Version = v
		cfg.Consumer.Offsets.AutoCommit.Enable = false
		client, err := sarama.NewClient([]string{tb.addr()}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		om, err := sarama.NewOffsetManagerFromClient(group, client)
		if err != nil {
			t.Fatal(err)
		}
		pom, err := om.ManagePartition("t", 1)
		if err != nil {
			t.Fatal(err)
		}
		if next, _ := pom.NextOffset(); next != sarama.OffsetNewest {
			t.Fatalf("%v: next offset before a commit: %d", v, next)
		}
		pom.MarkOffset(42, "sarama meta")
		om.Commit()
		select {
		case err := <-pom.Errors():
			t.Fatalf("%v: commit: %v", v, err)
		default:
		}
		pom.AsyncClose() // Close waits for om.Close to end the partition's errors
		if err := om.Close(); err != nil {
			t.Fatal(err)
		}
		om2, _ := sarama.NewOffsetManagerFromClient(group, client)
		pom2, err := om2.ManagePartition("t", 1)
		if err != nil {
			t.Fatal(err)
		}
		if next, md := pom2.NextOffset(); next != 42 || md != "sarama meta" {
			t.Fatalf("%v: read back %d %q", v, next, md)
		}
		pom2.AsyncClose()
		om2.Close()
		client.Close()
	}
	adm := newSaramaAdmin(t, tb, sarama.V2_8_0_0)
	resp, err := adm.ListConsumerGroupOffsets("sg-"+sarama.V2_8_0_0.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := resp.GetBlock("t", 1); b == nil || b.Offset != 42 || b.Metadata != "sarama meta" {
		t.Fatalf("sarama admin: %+v", b)
	}
}

// TestOffsetsConsumerGroup: a franz-go group consumer commits what it
// consumed (CommitRecords) and a new member resumes after it; commits from
// a stale generation, an unknown member or outside the group, while it has
// members, get the protocol's error code and change nothing.
func TestOffsetsConsumerGroup(t *testing.T) {
	tb := startBroker(t, "", func(c *Config) { c.GroupInitialRebalanceDelay = 0 })
	createTopic(t, tb, "t", 2, nil)
	ctx := testCtx(t)
	prod := newClient(t, tb, kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			if err := prod.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	consume := func(n int, whileMember func(member string, generation int32)) []*kgo.Record {
		cl := newClient(t, tb, kgo.ConsumerGroup("cg"), kgo.ConsumeTopics("t"), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cl.Close()
		var recs []*kgo.Record
		for len(recs) < n {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("polled %d of %d: %v", len(recs), n, err)
			}
			recs = append(recs, fs.Records()...)
		}
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			t.Fatal(err)
		}
		if whileMember != nil {
			whileMember(cl.GroupMetadata())
		}
		return recs
	}
	produce(0, 10)
	var committed map[topicPartition]committedOffset
	got := consume(10, func(member string, generation int32) {
		committed = committedState(tb)["cg"]
		pc := dialPinned(t, tb)
		for _, c := range []struct {
			member string
			gen    int32
			want   *kerr.Error
		}{
			{member, generation - 1, kerr.IllegalGeneration},
			{member + "-not", generation, kerr.UnknownMemberID},
			{"", -1, kerr.UnknownMemberID}, // a simple commit while the group has members
		} {
			code := commitCodes(pc.do(commitRequest("cg", c.gen, c.member, map[string]map[int32]int64{"t": {0: 0, 1: 0}}), 8).(*kmsg.OffsetCommitResponse))["t/0"]
			if code != c.want.Code {
				t.Errorf("member %q generation %d: %v, want %v", c.member, c.gen, kerr.ErrorForCode(code), c.want)
			}
		}
		if now := committedState(tb)["cg"]; !reflect.DeepEqual(now, committed) {
			t.Fatalf("refused commits changed the offsets: %+v -> %+v", committed, now)
		}
	})
	if len(got) != 10 || len(committed) != 2 || committed[topicPartition{"t", 0}].offset+committed[topicPartition{"t", 1}].offset != 10 {
		t.Fatalf("%d records, committed %+v", len(got), committed)
	}
	produce(10, 14)
	for _, r := range consume(4, nil) {
		var v int
		fmt.Sscan(string(r.Value), &v)
		if v < 10 {
			t.Fatalf("record %d consumed again after the commit", v)
		}
	}
}

// TestOffsetDelete: OffsetDelete as Kafka answers it.
func TestOffsetDelete(t *testing.T) {
	fm := newFakeMembership()
	tb := startBrokerWith(t, "", fm, nil)
	createTopic(t, tb, "t", 2, nil)
	createTopic(t, tb, "u", 1, nil)
	pc := dialPinned(t, tb)
	del := func(group string, tps map[string][]int32) *kmsg.OffsetDeleteResponse {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		for _, topic := range sortedKeys(tps) {
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = topic
			for _, p := range tps[topic] {
				rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: p})
			}
			req.Topics = append(req.Topics, rt)
		}
		return pc.do(req, 0).(*kmsg.OffsetDeleteResponse)
	}
	codes := func(r *kmsg.OffsetDeleteResponse) string {
		var out []string
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				out = append(out, fmt.Sprintf("%s/%d:%d", t.Topic, p.Partition, p.ErrorCode))
			}
		}
		return strings.Join(out, " ")
	}
	if r := del("", nil); r.ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatalf("empty group id: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := del("nobody", map[string][]int32{"t": {0}}); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("unknown group: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	// A simple group: anything goes; unknown partitions say so.
	pc.do(commitRequest("simple", -1, "", map[string]map[int32]int64{"t": {0: 1, 1: 2}, "u": {0: 3}}), 8)
	r := del("simple", map[string][]int32{"t": {0, 5}, "gone": {0}})
	if r.ErrorCode != 0 || codes(r) != "gone/0:3 t/0:0 t/5:3" {
		t.Fatalf("simple group: %d %s", r.ErrorCode, codes(r))
	}
	if got := committedState(tb)["simple"]; len(got) != 2 || got[topicPartition{"t", 0}].offset != 0 {
		t.Fatalf("after delete: %+v", got)
	}

	// An active consumer group subscribed to t: t's offsets stay, u's go.
	pc.do(commitRequest("active", -1, "", map[string]map[int32]int64{"t": {0: 1}, "u": {0: 3}}), 8)
	if err := tb.offsets.storeGroup("active", consumerGroupValue(1, "t")); err != nil {
		t.Fatal(err)
	}
	fm.mu.Lock()
	fm.members["active"] = true
	fm.mu.Unlock()
	r = del("active", map[string][]int32{"t": {0}, "u": {0}})
	if r.ErrorCode != 0 || codes(r) != fmt.Sprintf("t/0:%d u/0:0", kerr.GroupSubscribedToTopic.Code) {
		t.Fatalf("active group: %d %s", r.ErrorCode, codes(r))
	}
	if got := committedState(tb)["active"]; len(got) != 1 || got[topicPartition{"t", 0}].offset != 1 {
		t.Fatalf("active group after delete: %+v", got)
	}
	// Another protocol with members: NON_EMPTY_GROUP.
	other := kmsg.NewGroupMetadataValue()
	other.Version, other.ProtocolType = 3, "connect"
	if err := tb.offsets.storeGroup("active", other.AppendTo(nil)); err != nil {
		t.Fatal(err)
	}
	if r := del("active", map[string][]int32{"t": {0}}); r.ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("non-consumer group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestOffsetsOfDeletedTopic: deleting a topic deletes every group's
// offsets of it, so a new topic of that name starts with none.
func TestOffsetsOfDeletedTopic(t *testing.T) {
	tb := startBroker(t, "", nil)
	createTopic(t, tb, "t", 1, nil)
	createTopic(t, tb, "keep", 1, nil)
	pc := dialPinned(t, tb)
	for _, g := range []string{"a", "b", "c"} {
		pc.do(commitRequest(g, -1, "", map[string]map[int32]int64{"t": {0: 5}, "keep": {0: 6}}), 8)
	}
	adm, ctx := newAdmin(t, tb), testCtx(t)
	if _, err := adm.DeleteTopics(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	createTopic(t, tb, "t", 1, nil)
	for _, g := range []string{"a", "b", "c"} {
		if o := fetchOne(t, pc, 8, g, "t", 0); o.Offset != -1 {
			t.Fatalf("%s: offset of the old topic: %+v", g, o)
		}
		if o := fetchOne(t, pc, 8, g, "keep", 0); o.Offset != 6 {
			t.Fatalf("%s: offset of another topic lost: %+v", g, o)
		}
	}
}
