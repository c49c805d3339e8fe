package cluster

// Committed offsets across restarts: replay of __consumer_offsets after a
// clean stop and after a crash, malformed records, group metadata handed
// back to the membership half, expiry and compaction.

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	rlog "github.com/runnel-io/runnel/log"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// --- durability ---

// TestOffsetsSurviveRestart: commits survive a clean restart and a copy
// of the data directory taken while the broker runs (a crash), and the
// offsets of partitions not committed again stay where they were.
func TestOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	createTopic(t, tb, "t", 3, nil)
	pc := dialPinned(t, tb)
	for i := range int64(20) {
		offs := map[int32]int64{1: 100 + i}
		if i == 0 {
			offs[0], offs[2] = 7, 9
		}
		pc.do(commitRequest(fmt.Sprintf("g%d", i%4), -1, "", map[string]map[int32]int64{"t": offs}), 8)
	}
	want := committedState(tb)
	if len(want) != 4 || want["g0"][topicPartition{"t", 0}].offset != 7 || want["g0"][topicPartition{"t", 1}].offset != 116 ||
		want["g3"][topicPartition{"t", 1}].offset != 119 {
		t.Fatalf("before restart: %+v", want)
	}

	crash := filepath.Join(t.TempDir(), "crash")
	if err := os.CopyFS(crash, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	tb.stop(t)
	tb2 := startBroker(t, dir, nil)
	if got := committedState(tb2); !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart:\n got %+v\nwant %+v", got, want)
	}
	if o := fetchOne(t, dialPinned(t, tb2), 8, "g0", "t", 2); o.Offset != 9 || *o.Metadata != "md-9" {
		t.Fatalf("fetch after restart: %+v", o)
	}
	tb3 := startBroker(t, crash, nil)
	if got := committedState(tb3); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a crash:\n got %+v\nwant %+v", got, want)
	}
}

// TestOffsetsMalformedRecordsSkipped: records of __consumer_offsets that
// do not decode, or are of kinds we do not know, are skipped with a
// warning when the broker starts; the good ones around them are loaded.
func TestOffsetsMalformedRecordsSkipped(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	createTopic(t, tb, "t", 1, nil)
	p := offsetsPartition(t, tb, "g")
	good := commitRecord("g", topicPartition{"t", 0}, committedOffset{offset: 3, leaderEpoch: -1, commitMs: 1, expireMs: -1})
	later := commitRecord("g", topicPartition{"t", 0}, committedOffset{offset: 4, leaderEpoch: -1, commitMs: 2, expireMs: -1})
	key := good.appendKey(nil)
	recs := []rlog.Record{
		{Key: key, Value: good.appendValue(nil)},
		{Key: []byte{0}, Value: []byte{1}},                                                          // key too short
		{Key: key, Value: []byte{0, 3, 1}},                                                          // truncated value
		{Key: key, Value: []byte{0, 9, 0, 0, 0, 0, 0, 0, 0, 0}},                                     // unknown value version
		{Key: []byte{0, 7, 0, 1, 'x'}, Value: []byte("whatever")},                                   // a kind we do not know
		{Key: (&offsetRecord{keyVersion: 2, group: "g"}).appendKey(nil), Value: []byte{0, 3, 0xff}}, // bad group value
		{Key: later.appendKey(nil), Value: later.appendValue(nil)},
	}
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
	}
	batch, err := rlog.AppendBatch(nil, rlog.BatchHeader{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs, rlog.CompressionNone)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.appendInternal(batch); err != nil {
		t.Fatal(err)
	}
	tb.stop(t)
	tb2 := startBroker(t, dir, nil)
	if got := committedState(tb2)["g"][topicPartition{"t", 0}].offset; got != 4 {
		t.Fatalf("offset %d after replay, want 4", got)
	}
	if n := strings.Count(tb2.logs.String(), "skipping a record of "+offsetsTopic); n != 5 {
		t.Fatalf("%d warnings, want 5:\n%s", n, tb2.logs.String())
	}
}

// --- groupStore and restore ---

// TestStoreGroupRestore: group metadata stored by the membership half is
// replayed to it at startup (its latest record per group; nil after a
// tombstone); a value that does not decode is refused before it is
// written; DeleteGroups' deleteOffsets removes every offset.
func TestStoreGroupRestore(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	createTopic(t, tb, "t", 2, nil)
	var st groupStore = tb.offsets
	v1, v2 := consumerGroupValue(1, "t"), consumerGroupValue(2, "t", "u")
	for _, step := range []struct {
		group string
		value []byte
	}{{"a", v1}, {"b", v1}, {"a", v2}, {"b", nil}} {
		if err := st.storeGroup(step.group, step.value); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.storeGroup("c", []byte{0, 3, 1}); err == nil {
		t.Fatal("a malformed group value was stored")
	}
	pc := dialPinned(t, tb)
	pc.do(commitRequest("a", -1, "", map[string]map[int32]int64{"t": {0: 1, 1: 2}}), 8)
	if !st.hasOffsets("a") || st.hasOffsets("b") {
		t.Fatal("hasOffsets")
	}
	tb.stop(t)

	fm := newFakeMembership()
	tb2 := startBrokerWith(t, dir, fm, nil)
	// startBrokerWith swaps the membership after New's replay: replay
	// again into a second store over the same partitions.
	s2, err := openOffsets(&tb2.cfg, tb2.topics, tb2.logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.load(fm); err != nil {
		t.Fatal(err)
	}
	fm.mu.Lock()
	if fm.restores != 2 || !reflect.DeepEqual(fm.restored["a"], v2) || fm.restored["b"] != nil {
		t.Fatalf("restored %d: a=%x b=%x", fm.restores, fm.restored["a"], fm.restored["b"])
	}
	fm.mu.Unlock()
	if info := s2.info("a"); info.meta == nil || info.meta.protocolType != "consumer" || !info.meta.topics["u"] {
		t.Fatalf("a's metadata: %+v", info.meta)
	}
	if err := tb2.offsets.deleteOffsets("a"); err != nil {
		t.Fatal(err)
	}
	if tb2.offsets.hasOffsets("a") || len(committedState(tb2)) != 0 {
		t.Fatal("offsets left after deleteOffsets")
	}
}

// --- expiry and compaction ---

// TestOffsetsExpire: offsets.retention.minutes after a group has been
// empty (or, for a group the coordinator does not know, after each
// commit) its offsets are removed with tombstones, which a restart keeps;
// groups with members keep theirs; a commit's own retention (v2-4) wins.
func TestOffsetsExpire(t *testing.T) {
	dir := t.TempDir()
	fm := newFakeMembership()
	tb := startBrokerWith(t, dir, fm, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.MaintenanceInterval = 24 * time.Hour // the test drives expire itself
	})
	createTopic(t, tb, "t", 2, nil)
	pc := dialPinned(t, tb)
	now := time.Now()
	for _, g := range []string{"simple", "empty", "active"} {
		pc.do(commitRequest(g, -1, "", map[string]map[int32]int64{"t": {0: 1, 1: 2}}), 8)
	}
	short := commitRequest("short", -1, "", map[string]map[int32]int64{"t": {0: 1}})
	short.RetentionTimeMillis = 60_000
	pc.do(short, 4)
	fm.mu.Lock()
	fm.emptySince["empty"] = now.Add(2 * time.Hour).UnixMilli() // empty only from later on
	fm.members["active"] = true
	fm.mu.Unlock()

	tb.offsets.expire(now.Add(30 * time.Second))
	if len(committedState(tb)) != 4 {
		t.Fatalf("expired too early: %v", committedState(tb))
	}
	tb.offsets.expire(now.Add(2 * time.Minute)) // "short" asked for one minute
	if got := committedState(tb); len(got) != 3 || got["short"] != nil {
		t.Fatalf("a commit's own retention: %+v", got)
	}
	tb.offsets.expire(now.Add(30 * time.Minute))
	if len(committedState(tb)) != 3 {
		t.Fatalf("expired too early: %v", committedState(tb))
	}
	tb.offsets.expire(now.Add(90 * time.Minute))
	got := committedState(tb)
	if _, ok := got["simple"]; ok || len(got["empty"]) != 2 || len(got["active"]) != 2 {
		t.Fatalf("after 90 minutes: %+v", got)
	}
	tb.offsets.expire(now.Add(3*time.Hour + time.Minute))
	got = committedState(tb)
	if _, ok := got["empty"]; ok || len(got["active"]) != 2 {
		t.Fatalf("after the empty group's retention: %+v", got)
	}
	if !strings.Contains(tb.logs.String(), "committed offsets expired") {
		t.Fatal("expiry not logged")
	}
	tb.stop(t)
	tb2 := startBroker(t, dir, nil)
	if got := committedState(tb2); len(got) != 1 || len(got["active"]) != 2 {
		t.Fatalf("after restart: %+v", got)
	}
}

// TestOffsetsCompaction: many commits of the same keys, then the
// maintenance tick: __consumer_offsets shrinks to about one record per
// key, and the state rebuilt from it is the same.
func TestOffsetsCompaction(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, func(c *Config) { c.OffsetsTopicNumPartitions = 1 })
	if err := tb.topics.setConfigs(offsetsTopic, func(cur map[string]string) (map[string]string, error) {
		cur["segment.bytes"] = "4096"
		return cur, nil
	}, false); err != nil {
		t.Fatal(err)
	}
	createTopic(t, tb, "t", 4, nil)
	pc := dialPinned(t, tb)
	for i := range int64(300) {
		pc.do(commitRequest(fmt.Sprintf("g%d", i%3), -1, "", map[string]map[int32]int64{"t": {0: i, 1: i, 2: i, 3: i}}), 8)
	}
	pc.do(commitRequest("gone", -1, "", map[string]map[int32]int64{"t": {0: 1}}), 8)
	if err := tb.offsets.deleteOffsets("gone"); err != nil {
		t.Fatal(err)
	}
	want := committedState(tb)
	l := tb.offsets.shards[0].p.log
	before, segs := l.Size(), l.NumSegments()
	// Compaction leaves the active segment alone: have the tick roll it
	// (segment.ms), so that every record is in reach.
	if err := tb.topics.setConfigs(offsetsTopic, func(cur map[string]string) (map[string]string, error) {
		cur["segment.ms"] = "1"
		return cur, nil
	}, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	tb.topics.maintain()
	after := l.Size()
	if after*4 > before {
		t.Fatalf("compaction: %d bytes in %d segments -> %d bytes", before, segs, after)
	}
	records := len(offsetsLogRecords(t, l))
	if records != 12+1 { // the latest of 12 keys, and the tombstone
		t.Fatalf("%d records left after compaction, want 13", records)
	}
	t.Logf("%s: %d bytes in %d segments, compacted to %d bytes, %d records", offsetsTopic, before, segs, after, records)
	tb.stop(t)
	tb2 := startBroker(t, dir, nil)
	if got := committedState(tb2); !reflect.DeepEqual(got, want) {
		t.Fatalf("after compaction and restart:\n got %+v\nwant %+v", got, want)
	}
}

// offsetsLogRecords reads every record of __consumer_offsets, segment by segment.
func offsetsLogRecords(t *testing.T, l *rlog.Log) []offsetRecord {
	t.Helper()
	var out []offsetRecord
	for off := l.StartOffset(); off < l.EndOffset(); {
		data, err := l.ReadBatches(off, 1<<20, l.EndOffset())
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			break
		}
		for it := rlog.NewBatchIter(data); ; {
			h, batch, ok := it.Next()
			if !ok {
				break
			}
			off = h.NextOffset()
			_, recs, err := rlog.DecodeRecords(batch)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				d, err := decodeOffsetRecord(r.Key, r.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, d)
			}
		}
	}
	return out
}

// TestOffsetsConcurrentCommits: commits of one group from many
// connections at once leave memory and the log in the same order.
func TestOffsetsConcurrentCommits(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	createTopic(t, tb, "t", 1, nil)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc := dialPinned(t, tb)
			for i := range int64(50) {
				pc.do(commitRequest("g", -1, "", map[string]map[int32]int64{"t": {0: int64(w)*1000 + i}}), 8)
			}
		}()
	}
	wg.Wait()
	want := committedState(tb)
	tb.stop(t)
	if got := committedState(startBroker(t, dir, nil)); !reflect.DeepEqual(got, want) {
		t.Fatalf("memory and log disagree:\n log %+v\n mem %+v", got, want)
	}
}

// TestOffsetsOnlyGroupListedAfterRestart: a group known only by its
// committed offsets (simple commits, no members, no metadata record) is
// listed as Empty by ListGroups, before and after a restart.
func TestOffsetsOnlyGroupListedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	createTopic(t, tb, "t", 1, nil)
	dialPinned(t, tb).do(commitRequest("solo", -1, "", map[string]map[int32]int64{"t": {0: 3}}), 8)
	listed := func(tb *testBroker) map[string]string {
		resp, err := kmsg.NewPtrListGroupsRequest().RequestWith(testCtx(t), newClient(t, tb))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, g := range resp.Groups {
			out[g.Group] = g.GroupState
		}
		return out
	}
	if got := listed(tb); got["solo"] != "Empty" {
		t.Fatalf("before restart: %v", got)
	}
	tb.stop(t)
	tb2 := startBroker(t, dir, nil)
	if got := listed(tb2); got["solo"] != "Empty" {
		t.Fatalf("after restart: %v", got)
	}
}
