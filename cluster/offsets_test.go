package cluster

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

func listOffsetsRequest(topic string, ts int64, partitions ...int32) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, ts
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func (w *wireConn) listOffset(topic string, partition int32, ts int64, version int16) kmsg.ListOffsetsResponseTopicPartition {
	w.t.Helper()
	resp := w.do(listOffsetsRequest(topic, ts, partition), version).(*kmsg.ListOffsetsResponse)
	return resp.Topics[0].Partitions[0]
}

// appendTestBatch appends one uncompressed batch holding a record per
// timestamp straight to p's log, as a produce would, and returns its base
// offset.
func appendTestBatch(t testing.TB, p *partition, stamps ...int64) int64 {
	t.Helper()
	recs := make([]rlog.Record, len(stamps))
	maxTs := stamps[0]
	for i, ts := range stamps {
		recs[i] = rlog.Record{OffsetDelta: int32(i), TimestampDelta: ts - stamps[0], Value: fmt.Appendf(nil, "at %d", ts)}
		maxTs = max(maxTs, ts)
	}
	h := rlog.BatchHeader{BaseTimestamp: stamps[0], MaxTimestamp: maxTs, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	batch, err := rlog.AppendBatch(nil, h, recs, rlog.CompressionNone)
	if err != nil {
		t.Fatal(err)
	}
	res := p.produce(batch, time.Now())
	if res.err != nil {
		t.Fatalf("append: %v %s", res.err, res.msg)
	}
	return res.baseOffset
}

// bumpLeaderEpoch starts leader epoch epoch on p at its log end, as an
// election will. partition.leaderEpoch is a plain field that nothing
// changes at run time yet, so this is only safe before any client has
// talked to the broker: the store's lock orders the write before every
// handler's read.
func bumpLeaderEpoch(t testing.TB, tb *testBroker, p *partition, epoch int32) {
	t.Helper()
	tb.topics.mu.Lock()
	defer tb.topics.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leaderEpoch = epoch
	if err := p.log.AssignEpoch(epoch); err != nil {
		t.Fatal(err)
	}
}

// TestListOffsets: earliest, latest, max timestamp and by time, at every
// version, with records produced with explicit timestamps; then through
// franz-go's admin client.
func TestListOffsets(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "times", 1)
	prod := manualProducer(t, tb)
	for _, ts := range []int64{1000, 2000, 5000, 3000, 4000} { // offsets 0-4
		r := &kgo.Record{Topic: tv.name, Value: []byte("v"), Timestamp: time.UnixMilli(ts)}
		if err := prod.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		ts          int64
		minVersion  int16
		offset, got int64 // got: the record's timestamp
	}{
		{-2, 1, 0, -1},
		{-1, 1, 5, -1},
		{-3, 7, 2, 5000}, // the largest timestamp is not the last record's
		{-4, 8, 0, -1},
		{0, 1, 0, 1000},
		{1500, 1, 1, 2000},
		{2000, 1, 1, 2000},
		{3500, 1, 2, 5000}, // the first record at or after it, by offset
		{5000, 1, 2, 5000},
		{5001, 1, -1, -1},
	}
	w := dialWire(t, tb)
	for v := apis[2].min; v <= apis[2].max; v++ {
		for _, c := range cases {
			sp := w.listOffset(tv.name, 0, c.ts, v)
			if v < c.minVersion {
				if sp.ErrorCode != kerr.UnsupportedVersion.Code {
					t.Errorf("v%d timestamp %d: error %d, want UNSUPPORTED_VERSION", v, c.ts, sp.ErrorCode)
				}
				continue
			}
			if sp.ErrorCode != 0 || sp.Offset != c.offset || sp.Timestamp != c.got {
				t.Errorf("v%d timestamp %d: error %d, offset %d, timestamp %d; want offset %d, timestamp %d",
					v, c.ts, sp.ErrorCode, sp.Offset, sp.Timestamp, c.offset, c.got)
			}
			wantEpoch := int32(0) // the only epoch, or -1 with no offset
			if c.offset < 0 {
				wantEpoch = -1
			}
			if v >= 4 && sp.LeaderEpoch != wantEpoch {
				t.Errorf("v%d timestamp %d: leader epoch %d, want %d", v, c.ts, sp.LeaderEpoch, wantEpoch)
			}
		}
		readCommitted := listOffsetsRequest(tv.name, -1, 0)
		readCommitted.IsolationLevel = 1
		if sp := w.do(readCommitted, v).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; sp.Offset != 5 {
			t.Errorf("v%d read committed latest: %d", v, sp.Offset)
		}
	}

	for _, c := range []struct {
		name string
		req  *kmsg.ListOffsetsRequest
		want []int16
	}{
		{"unknown topic", listOffsetsRequest("nope", -1, 0), []int16{kerr.UnknownTopicOrPartition.Code}},
		{"unknown partition", listOffsetsRequest(tv.name, -1, 3), []int16{kerr.UnknownTopicOrPartition.Code}},
		{"unknown special timestamp", listOffsetsRequest(tv.name, -7, 0), []int16{kerr.UnsupportedVersion.Code}},
		{"partition twice", listOffsetsRequest(tv.name, -1, 0, 0), []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}},
	} {
		ps := w.do(c.req, 8).(*kmsg.ListOffsetsResponse).Topics[0].Partitions
		for i, want := range c.want {
			if len(ps) != len(c.want) || ps[i].ErrorCode != want {
				t.Errorf("%s: %+v", c.name, ps)
			}
		}
	}

	adm := kadm.NewClient(newClient(t, tb))
	ctx := testCtx(t)
	for _, c := range []struct {
		name string
		list func() (kadm.ListedOffsets, error)
		want int64
	}{
		{"start", func() (kadm.ListedOffsets, error) { return adm.ListStartOffsets(ctx, tv.name) }, 0},
		{"end", func() (kadm.ListedOffsets, error) { return adm.ListEndOffsets(ctx, tv.name) }, 5},
		{"after 1500 ms", func() (kadm.ListedOffsets, error) { return adm.ListOffsetsAfterMilli(ctx, 1500, tv.name) }, 1},
		{"max timestamp", func() (kadm.ListedOffsets, error) { return adm.ListMaxTimestampOffsets(ctx, tv.name) }, 2},
	} {
		listed, err := c.list()
		if err != nil {
			t.Fatalf("kadm %s: %v", c.name, err)
		}
		if lo, ok := listed.Lookup(tv.name, 0); !ok || lo.Err != nil || lo.Offset != c.want {
			t.Errorf("kadm %s: %+v, want offset %d", c.name, lo, c.want)
		}
	}

	// Records at or above the high watermark are no answer for a
	// consumer; a follower sees them.
	tv.partitions[0].log.SetHighWatermark(2)
	for _, c := range []struct{ ts, consumer, follower int64 }{{-1, 2, 5}, {-3, -1, 2}, {4500, -1, 2}, {1500, 1, 1}} {
		req := listOffsetsRequest(tv.name, c.ts, 0)
		if sp := w.do(req, 8).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; sp.Offset != c.consumer {
			t.Errorf("consumer, high watermark 2, timestamp %d: offset %d, want %d", c.ts, sp.Offset, c.consumer)
		}
		req.ReplicaID = 1
		if sp := w.do(req, 8).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; sp.Offset != c.follower {
			t.Errorf("follower, timestamp %d: offset %d, want %d", c.ts, sp.Offset, c.follower)
		}
	}
}

// TestListOffsetsInsideBatches: the time lookups find records inside
// multi-record batches, and -3 the first record with the largest
// timestamp.
func TestListOffsetsInsideBatches(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "batches", 1)
	p := tv.partitions[0]
	appendTestBatch(t, p, 1000)             // offset 0
	appendTestBatch(t, p, 6000, 9000, 7000) // offsets 1-3
	appendTestBatch(t, p, 9000, 8000)       // offsets 4-5
	w := dialWire(t, tb)
	for _, c := range []struct{ ts, offset, got int64 }{
		{-3, 2, 9000}, {6500, 2, 9000}, {6000, 1, 6000}, {9000, 2, 9000}, {9001, -1, -1}, {-2, 0, -1}, {-1, 6, -1},
	} {
		if sp := w.listOffset(tv.name, 0, c.ts, 8); sp.ErrorCode != 0 || sp.Offset != c.offset || sp.Timestamp != c.got {
			t.Errorf("timestamp %d: error %d, offset %d, timestamp %d; want %d, %d", c.ts, sp.ErrorCode, sp.Offset, sp.Timestamp, c.offset, c.got)
		}
	}
	empty := makeTopic(t, tb, "empty", 1)
	for _, c := range []struct{ ts, offset int64 }{{-3, -1}, {0, -1}, {-2, 0}, {-1, 0}} {
		if sp := w.listOffset(empty.name, 0, c.ts, 8); sp.ErrorCode != 0 || sp.Timestamp != -1 || sp.Offset != c.offset {
			t.Errorf("empty log, timestamp %d: error %d, offset %d, timestamp %d; want offset %d", c.ts, sp.ErrorCode, sp.Offset, sp.Timestamp, c.offset)
		}
	}
}

// TestDeleteRecords: through franz-go's admin client and raw requests at
// every version; the log start moves, ListOffsets and consumers follow it,
// and a fetch below it is OFFSET_OUT_OF_RANGE.
func TestDeleteRecords(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "trim", 2)
	prod := manualProducer(t, tb)
	produceOne(t, prod, tv.name, 0, "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9")
	produceOne(t, prod, tv.name, 1, "s0", "s1")
	ctx := testCtx(t)
	adm := kadm.NewClient(newClient(t, tb))

	var del kadm.Offsets
	del.AddOffset(tv.name, 0, 4, -1)
	resps, err := adm.DeleteRecords(ctx, del)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := resps.Lookup(tv.name, 0); !ok || r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete records before 4: %+v", r)
	}
	starts, err := adm.ListStartOffsets(ctx, tv.name)
	if err != nil {
		t.Fatal(err)
	}
	if lo, _ := starts.Lookup(tv.name, 0); lo.Offset != 4 {
		t.Fatalf("start offset after delete: %d", lo.Offset)
	}
	if lo, _ := starts.Lookup(tv.name, 1); lo.Offset != 0 {
		t.Fatalf("untouched partition's start offset: %d", lo.Offset)
	}

	w := dialWire(t, tb)
	sp := w.fetch(fetchRequest(tv, fetchAt{0, 2}), 16).Topics[0].Partitions[0]
	if sp.ErrorCode != kerr.OffsetOutOfRange.Code || sp.LogStartOffset != 4 || sp.HighWatermark != 10 || len(sp.RecordBatches) != 0 {
		t.Fatalf("fetch below the log start: error %d, log start %d, high watermark %d", sp.ErrorCode, sp.LogStartOffset, sp.HighWatermark)
	}
	sp = w.fetch(fetchRequest(tv, fetchAt{0, 4}), 16).Topics[0].Partitions[0]
	if recs, _ := decodeFetched(t, sp.RecordBatches); sp.ErrorCode != 0 || len(recs) != 6 || recs[0].offset != 4 || recs[0].value != "r4" {
		t.Fatalf("fetch at the new log start: error %d, %v", sp.ErrorCode, recs)
	}
	consumer := newClient(t, tb, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tv.name: {0: kgo.NewOffset().AtStart()}}))
	if got := consumeN(t, ctx, consumer, 6)[0]; got[0].Offset != 4 || got[5].Offset != 9 {
		t.Fatalf("consumer from the start read offsets %d to %d", got[0].Offset, got[len(got)-1].Offset)
	}

	for v := apis[21].min; v <= apis[21].max; v++ {
		for _, c := range []struct {
			topic     string
			partition int32
			offset    int64
			code      int16
			low       int64
		}{
			{tv.name, 0, 3, 0, 4}, // below the log start: nothing changes
			{tv.name, 0, 11, kerr.OffsetOutOfRange.Code, -1},
			{tv.name, 0, -5, kerr.OffsetOutOfRange.Code, -1},
			{tv.name, 9, 0, kerr.UnknownTopicOrPartition.Code, -1},
			{"nope", 0, 0, kerr.UnknownTopicOrPartition.Code, -1},
		} {
			req := kmsg.NewPtrDeleteRecordsRequest()
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = c.topic
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = c.partition, c.offset
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			got := w.do(req, v).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
			if got.ErrorCode != c.code || got.LowWatermark != c.low {
				t.Errorf("v%d delete %s-%d before %d: error %d, low watermark %d; want %d, %d",
					v, c.topic, c.partition, c.offset, got.ErrorCode, got.LowWatermark, c.code, c.low)
			}
		}
	}

	// -1 is the high watermark, which bounds the deletion.
	tv.partitions[0].log.SetHighWatermark(7)
	del = kadm.Offsets{}
	del.AddOffset(tv.name, 0, 8, -1)
	del.AddOffset(tv.name, 1, -1, -1)
	if resps, err = adm.DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	if r, _ := resps.Lookup(tv.name, 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete above the high watermark: %v", r.Err)
	}
	if r, _ := resps.Lookup(tv.name, 1); r.Err != nil || r.LowWatermark != 2 {
		t.Fatalf("delete to the high watermark: %+v", r)
	}
	del = kadm.Offsets{}
	del.AddOffset(tv.name, 0, -1, -1)
	if resps, err = adm.DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	if r, _ := resps.Lookup(tv.name, 0); r.Err != nil || r.LowWatermark != 7 {
		t.Fatalf("delete to a lowered high watermark: %+v", r)
	}
	if sp := w.listOffset(tv.name, 1, -2, 8); sp.Offset != 2 {
		t.Fatalf("earliest offset of an emptied partition: %d", sp.Offset)
	}
}

// TestLeaderEpochs: OffsetForLeaderEpoch at every version, epoch fencing
// in Fetch, ListOffsets and OffsetForLeaderEpoch, a fetch's divergence
// check, and the epochs ListOffsets reports.
func TestLeaderEpochs(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "epochs", 1)
	empty := makeTopic(t, tb, "no-records", 1)
	p := tv.partitions[0]
	appendTestBatch(t, p, 1000, 1001, 1002) // offsets 0-2, epoch 0
	bumpLeaderEpoch(t, tb, p, 2)
	appendTestBatch(t, p, 2000) // offset 3, epoch 2
	appendTestBatch(t, p, 2001) // offset 4, epoch 2

	w := dialWire(t, tb)
	olfe := func(topic string, current, epoch int32, version int16) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return w.do(req, version).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}
	for v := apis[23].min; v <= apis[23].max; v++ {
		for _, c := range []struct {
			topic            string
			epoch, wantEpoch int32
			wantEnd          int64
			code             int16
		}{
			{tv.name, 0, 0, 3, 0},
			{tv.name, 1, 0, 3, 0}, // never led: the epoch before it, ending where 2 began
			{tv.name, 2, 2, 5, 0}, // the current epoch ends at the log end
			{tv.name, 3, -1, -1, 0},
			{empty.name, 0, 0, 0, 0}, // a leader's epoch starts before its first record
			{"nope", 0, -1, -1, kerr.UnknownTopicOrPartition.Code},
		} {
			sp := olfe(c.topic, -1, c.epoch, v)
			if sp.ErrorCode != c.code || sp.LeaderEpoch != c.wantEpoch || sp.EndOffset != c.wantEnd {
				t.Errorf("v%d %s epoch %d: error %d, epoch %d, end %d; want %d, %d", v, c.topic, c.epoch, sp.ErrorCode, sp.LeaderEpoch, sp.EndOffset, c.wantEpoch, c.wantEnd)
			}
		}
	}
	adm := kadm.NewClient(newClient(t, tb))
	ends, err := adm.OffsetForLeaderEpoch(testCtx(t), kadm.OffsetForLeaderEpochRequest{tv.name: {0: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if e := ends[tv.name][0]; e.Err != nil || e.LeaderEpoch != 0 || e.EndOffset != 3 {
		t.Fatalf("kadm offset for epoch 0: %+v", e)
	}

	// Fencing by CurrentLeaderEpoch, the same in the three APIs.
	for _, c := range []struct {
		current int32
		code    int16
	}{{-1, 0}, {2, 0}, {1, kerr.FencedLeaderEpoch.Code}, {3, kerr.UnknownLeaderEpoch.Code}} {
		if sp := olfe(tv.name, c.current, 2, 4); sp.ErrorCode != c.code {
			t.Errorf("OffsetForLeaderEpoch, current epoch %d: error %d, want %d", c.current, sp.ErrorCode, c.code)
		}
		lo := listOffsetsRequest(tv.name, -1, 0)
		lo.Topics[0].Partitions[0].CurrentLeaderEpoch = c.current
		if sp := w.do(lo, 8).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; sp.ErrorCode != c.code {
			t.Errorf("ListOffsets, current epoch %d: error %d, want %d", c.current, sp.ErrorCode, c.code)
		}
		f := fetchRequest(tv, fetchAt{0, 0})
		f.Topics[0].Partitions[0].CurrentLeaderEpoch = c.current
		f.MaxWaitMillis = 5000
		if sp := w.fetch(f, 16).Topics[0].Partitions[0]; sp.ErrorCode != c.code || (c.code != 0) != (len(sp.RecordBatches) == 0) {
			t.Errorf("Fetch, current epoch %d: error %d, %d bytes; want error %d", c.current, sp.ErrorCode, len(sp.RecordBatches), c.code)
		}
	}

	// A fetcher whose last epoch ended before its fetch offset diverged.
	for _, c := range []struct {
		last     int32
		offset   int64
		divEpoch int32
		divEnd   int64
		code     int16
		records  int
	}{
		{-1, 4, -1, -1, 0, 1},
		{0, 3, -1, -1, 0, 2},
		{0, 4, 0, 3, 0, 0},
		{1, 3, 0, 3, 0, 0},
		{2, 4, -1, -1, 0, 1},
		{7, 4, -1, -1, kerr.OffsetOutOfRange.Code, 0},
	} {
		f := fetchRequest(tv, fetchAt{0, c.offset})
		f.Topics[0].Partitions[0].LastFetchedEpoch = c.last
		sp := w.fetch(f, 16).Topics[0].Partitions[0]
		recs, _ := decodeFetched(t, sp.RecordBatches)
		if sp.ErrorCode != c.code || sp.DivergingEpoch.Epoch != c.divEpoch || sp.DivergingEpoch.EndOffset != c.divEnd || len(recs) != c.records {
			t.Errorf("last fetched epoch %d at %d: error %d, diverging %+v, %d records", c.last, c.offset, sp.ErrorCode, sp.DivergingEpoch, len(recs))
		}
	}

	// ListOffsets reports the epoch that wrote each offset.
	for _, c := range []struct {
		ts     int64
		offset int64
		epoch  int32
	}{{-2, 0, 0}, {-1, 5, 2}, {1001, 1, 0}, {2000, 3, 2}, {-3, 4, 2}} {
		if sp := w.listOffset(tv.name, 0, c.ts, 8); sp.Offset != c.offset || sp.LeaderEpoch != c.epoch {
			t.Errorf("list timestamp %d: offset %d epoch %d; want %d, %d", c.ts, sp.Offset, sp.LeaderEpoch, c.offset, c.epoch)
		}
	}
}
