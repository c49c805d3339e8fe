package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

// --- helpers ---

// idemBatch encodes one uncompressed batch of an idempotent producer.
func idemBatch(t testing.TB, pid int64, epoch int16, seq int32, values ...string) []byte {
	t.Helper()
	now := time.Now().UnixMilli()
	recs := make([]rlog.Record, len(values))
	for i, v := range values {
		recs[i] = rlog.Record{OffsetDelta: int32(i), Value: []byte(v)}
	}
	h := rlog.BatchHeader{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, BaseTimestamp: now, MaxTimestamp: now}
	b, err := rlog.AppendBatch(nil, h, recs, rlog.CompressionNone)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// idemProduce sends batch to partition 0 of topic with acks=all, as a
// client retrying a request sends the very same bytes again.
func idemProduce(pc *pinnedConn, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	pc.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return pc.do(req, 9).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

// wantProduced checks a produce answer: no error and the base offset, or
// the error.
func wantProduced(t testing.TB, what string, got kmsg.ProduceResponseTopicPartition, off int64, want *kerr.Error) {
	t.Helper()
	if want != nil {
		if got.ErrorCode != want.Code {
			t.Fatalf("%s: got %v, want %v", what, kerr.ErrorForCode(got.ErrorCode), want)
		}
		return
	}
	if got.ErrorCode != 0 || got.BaseOffset != off {
		t.Fatalf("%s: %v at offset %d, want offset %d", what, kerr.ErrorForCode(got.ErrorCode), got.BaseOffset, off)
	}
}

func initProducerID(pc *pinnedConn, v int16, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	pc.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = pid, epoch
	return pc.do(req, v).(*kmsg.InitProducerIDResponse)
}

func freshProducerID(t testing.TB, pc *pinnedConn) int64 {
	t.Helper()
	r := initProducerID(pc, 4, -1, -1)
	if r.ErrorCode != 0 || r.ProducerID < 0 || r.ProducerEpoch != 0 {
		t.Fatalf("InitProducerID: %+v", r)
	}
	return r.ProducerID
}

// loggedRecord is one record as stored.
type loggedRecord struct {
	offset int64
	pid    int64
	value  string
}

// logRecords decodes a partition's whole log.
func logRecords(t testing.TB, p *partition) []loggedRecord {
	t.Helper()
	var out []loggedRecord
	off, end := p.log.StartOffset(), p.log.EndOffset()
	for off < end {
		buf, err := p.log.ReadBatches(off, 8<<20, end)
		if err != nil {
			t.Fatal(err)
		}
		it := rlog.NewBatchIter(buf)
		for h, b, ok := it.Next(); ok; h, b, ok = it.Next() {
			_, recs, err := rlog.DecodeRecords(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				out = append(out, loggedRecord{h.BaseOffset + int64(r.OffsetDelta), h.ProducerID, string(r.Value)})
			}
			off = h.NextOffset()
		}
	}
	return out
}

func logValues(t testing.TB, p *partition) string {
	t.Helper()
	var vs []string
	for _, r := range logRecords(t, p) {
		vs = append(vs, r.value)
	}
	return strings.Join(vs, ",")
}

// copyDir copies a data directory file by file, as a crash would leave it:
// whatever the running broker has written so far, no clean shutdown.
func copyDir(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, src); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}

// --- tests ---

// TestIdempotentProducersAcksAll: several franz-go producers (idempotent
// by default) and a sarama idempotent producer write one topic at once
// with acks=all; every record is stored once, at the offset it was
// acknowledged with, in each producer's order, under its own producer id.
func TestIdempotentProducersAcksAll(t *testing.T) {
	tb := startBroker(t, "", nil)
	const topic, producers, perProducer = "idem", 4, 500
	if _, err := tb.topics.create(topic, 3, nil, false); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	type ack struct {
		partition int32
		offset    int64
	}
	var mu sync.Mutex
	acked := map[string]ack{}
	var wg sync.WaitGroup
	errs := make(chan error, producers*perProducer+1)
	for p := range producers {
		cl := newClient(t, tb, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pwg sync.WaitGroup
			for i := range perProducer {
				pwg.Add(1)
				cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "f%d-%d", p, i)}, func(r *kgo.Record, err error) {
					defer pwg.Done()
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					acked[string(r.Value)] = ack{r.Partition, r.Offset}
					mu.Unlock()
				})
			}
			pwg.Wait()
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := saramaIdempotent(tb.addr(), topic, perProducer/5, func(v string, part int32, off int64) {
			mu.Lock()
			acked[v] = ack{part, off}
			mu.Unlock()
		})
		if err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("produce: %v", err)
	}
	want := producers*perProducer + perProducer/5
	if len(acked) != want {
		t.Fatalf("%d records acknowledged, want %d", len(acked), want)
	}

	stored, pids := 0, map[int64]bool{}
	for part := int32(0); part < 3; part++ {
		p, _ := tb.topics.partition(topic, part)
		last := map[string]int{} // producer -> last sequence seen in this partition
		for _, r := range logRecords(t, p) {
			stored++
			if a, ok := acked[r.value]; !ok || a.partition != part || a.offset != r.offset {
				t.Fatalf("%s stored at %d/%d, acknowledged at %+v", r.value, part, r.offset, a)
			}
			if r.pid < 0 {
				t.Fatalf("%s stored without a producer id", r.value)
			}
			pids[r.pid] = true
			who, n, _ := strings.Cut(r.value, "-")
			i, _ := strconv.Atoi(n)
			if prev, ok := last[who]; ok && i <= prev {
				t.Fatalf("partition %d: %s after %s-%d", part, r.value, who, prev)
			}
			last[who] = i
		}
	}
	if stored != want {
		t.Fatalf("%d records stored, want %d (duplicates or losses)", stored, want)
	}
	if len(pids) != producers+1 {
		t.Fatalf("%d producer ids in the log, want %d", len(pids), producers+1)
	}
}

// saramaIdempotent produces n records "s-<i>" with sarama's idempotent
// producer, acks=all, reporting where each was acknowledged.
func saramaIdempotent(addr, topic string, n int, acked func(v string, part int32, off int64)) error {
	cfg := sarama.NewConfig()
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	sp, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		return err
	}
	defer sp.Close()
	for i := range n {
		v := fmt.Sprintf("s-%d", i)
		part, off, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)})
		if err != nil {
			return err
		}
		acked(v, part, off)
	}
	return nil
}

// TestIdempotentRetryAndFencing drives the sequence checks with raw
// requests: a retried batch gets its original offset and is stored once,
// a gap is OUT_OF_ORDER_SEQUENCE_NUMBER, a bumped epoch fences the old one.
func TestIdempotentRetryAndFencing(t *testing.T) {
	tb := startBroker(t, "", nil)
	if _, err := tb.topics.create("seq", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	p, _ := tb.topics.partition("seq", 0)
	pc := dialPinned(t, tb)
	pid := freshProducerID(t, pc)

	b0 := idemBatch(t, pid, 0, 0, "a", "b", "c")
	b1 := idemBatch(t, pid, 0, 3, "d", "e")
	wantProduced(t, "first", idemProduce(pc, "seq", b0), 0, nil)
	wantProduced(t, "retry of the first", idemProduce(pc, "seq", b0), 0, nil)
	wantProduced(t, "second", idemProduce(pc, "seq", b1), 3, nil)
	wantProduced(t, "retry of the first after the second", idemProduce(pc, "seq", b0), 0, nil)
	wantProduced(t, "retry of the second", idemProduce(pc, "seq", b1), 3, nil)
	wantProduced(t, "gap", idemProduce(pc, "seq", idemBatch(t, pid, 0, 9, "x")), 0, kerr.OutOfOrderSequenceNumber)
	wantProduced(t, "overlap", idemProduce(pc, "seq", idemBatch(t, pid, 0, 4, "x")), 0, kerr.OutOfOrderSequenceNumber)
	if got := logValues(t, p); got != "a,b,c,d,e" {
		t.Fatalf("log holds %s", got)
	}

	// KIP-360: the producer bumps its epoch; a retry of the bump gets the
	// same answer. The new epoch starts at sequence 0, the old is fenced.
	for range 2 {
		r := initProducerID(pc, 3, pid, 0)
		if r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != 1 {
			t.Fatalf("bump: %+v", r)
		}
	}
	wantProduced(t, "new epoch not from 0", idemProduce(pc, "seq", idemBatch(t, pid, 1, 5, "x")), 0, kerr.OutOfOrderSequenceNumber)
	wantProduced(t, "new epoch", idemProduce(pc, "seq", idemBatch(t, pid, 1, 0, "f")), 5, nil)
	wantProduced(t, "old epoch", idemProduce(pc, "seq", idemBatch(t, pid, 0, 5, "x")), 0, kerr.InvalidProducerEpoch)
	wantProduced(t, "old epoch's retry", idemProduce(pc, "seq", b1), 0, kerr.InvalidProducerEpoch)
	if got := logValues(t, p); got != "a,b,c,d,e,f" {
		t.Fatalf("log holds %s", got)
	}

	// Another producer is independent.
	other := freshProducerID(t, pc)
	if other == pid {
		t.Fatal("the same producer id twice")
	}
	wantProduced(t, "other producer", idemProduce(pc, "seq", idemBatch(t, other, 0, 0, "g")), 6, nil)
}

func TestInitProducerID(t *testing.T) {
	tb := startBroker(t, "", nil)
	pc := dialPinned(t, tb)
	seen := map[int64]bool{}
	for v := int16(0); v <= 4; v++ {
		r := initProducerID(pc, v, -1, -1)
		if r.ErrorCode != 0 || r.ProducerEpoch != 0 || seen[r.ProducerID] {
			t.Fatalf("v%d: %+v", v, r)
		}
		seen[r.ProducerID] = true
	}
	pid := freshProducerID(t, pc)
	if r := initProducerID(pc, 4, pid, math.MaxInt16-1); r.ErrorCode != 0 || r.ProducerID == pid || r.ProducerEpoch != 0 {
		t.Fatalf("bump of an exhausted epoch: %+v, want a fresh id", r)
	}
	if r := initProducerID(pc, 4, pid+1<<40, 3); r.ErrorCode != 0 || r.ProducerID == pid+1<<40 || r.ProducerEpoch != 0 {
		t.Fatalf("bump of an id never handed out: %+v, want a fresh id", r)
	}
	if r := initProducerID(pc, 4, pid, -1); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("id without an epoch: %+v", r)
	}
	// Producer ids stay unique across restarts.
	dir := tb.cfg.DataDir
	tb.stop(t)
	tb2 := startBroker(t, dir, nil)
	if again := freshProducerID(t, dialPinned(t, tb2)); again <= pid {
		t.Fatalf("after a restart, producer id %d, already had %d", again, pid)
	}

	// Transactions are refused at once, clearly.
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = strp("tx")
	if r := dialPinned(t, tb2).do(req, 4).(*kmsg.InitProducerIDResponse); r.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional: %+v", r)
	}
	cl := newClient(t, tb2, kgo.TransactionalID("tx"), kgo.DefaultProduceTopic("txn"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Second)
	defer cancel()
	start := time.Now()
	err := cl.BeginTransaction() // franz-go asks for the producer id here
	if err == nil {
		err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
	}
	if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("franz-go transactional produce: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("transactional producer took %v to fail", took)
	}
}

// TestProducerStateSurvivesRestart: after a clean restart (snapshot) the
// broker still knows the producer's sequences and epoch.
func TestProducerStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	if _, err := tb.topics.create("seq", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	pc := dialPinned(t, tb)
	pid := freshProducerID(t, pc)
	b0, b1 := idemBatch(t, pid, 0, 0, "a", "b", "c"), idemBatch(t, pid, 0, 3, "d", "e")
	wantProduced(t, "b0", idemProduce(pc, "seq", b0), 0, nil)
	wantProduced(t, "b1", idemProduce(pc, "seq", b1), 3, nil)
	tb.stop(t)

	tb = startBroker(t, dir, nil)
	pc = dialPinned(t, tb)
	wantProduced(t, "retry b1", idemProduce(pc, "seq", b1), 3, nil)
	wantProduced(t, "retry b0", idemProduce(pc, "seq", b0), 0, nil)
	wantProduced(t, "gap", idemProduce(pc, "seq", idemBatch(t, pid, 0, 6, "x")), 0, kerr.OutOfOrderSequenceNumber)
	wantProduced(t, "next", idemProduce(pc, "seq", idemBatch(t, pid, 0, 5, "f")), 5, nil)
	if r := initProducerID(pc, 4, pid, 0); r.ProducerEpoch != 1 {
		t.Fatalf("bump: %+v", r)
	}
	wantProduced(t, "new epoch", idemProduce(pc, "seq", idemBatch(t, pid, 1, 0, "g")), 6, nil)
	tb.stop(t)

	tb = startBroker(t, dir, nil)
	pc = dialPinned(t, tb)
	wantProduced(t, "old epoch after restart", idemProduce(pc, "seq", b1), 0, kerr.InvalidProducerEpoch)
	wantProduced(t, "new epoch retry after restart", idemProduce(pc, "seq", idemBatch(t, pid, 1, 0, "g")), 6, nil)
	p, _ := tb.topics.partition("seq", 0)
	if got := logValues(t, p); got != "a,b,c,d,e,f,g" {
		t.Fatalf("log holds %s", got)
	}
}

// TestProducerStateSurvivesCrash: a copy of a running broker's data dir
// (no clean shutdown, so no fresh snapshot) rebuilds the producer state
// from the log, with and without an older snapshot to start from.
func TestProducerStateSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	if _, err := tb.topics.create("seq", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	pc := dialPinned(t, tb)
	pid := freshProducerID(t, pc)
	b0, b1 := idemBatch(t, pid, 0, 0, "a", "b", "c"), idemBatch(t, pid, 0, 3, "d", "e")
	wantProduced(t, "b0", idemProduce(pc, "seq", b0), 0, nil)
	wantProduced(t, "b1", idemProduce(pc, "seq", b1), 3, nil)

	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	if _, err := os.Stat(filepath.Join(crashed, "seq-0", producerSnapshotFile)); err == nil {
		t.Fatal("the crash copy has a producer snapshot: it would not test the replay")
	}
	tc := startBroker(t, crashed, nil)
	pcc := dialPinned(t, tc)
	wantProduced(t, "retry b1 after a crash", idemProduce(pcc, "seq", b1), 3, nil)
	wantProduced(t, "retry b0 after a crash", idemProduce(pcc, "seq", b0), 0, nil)
	wantProduced(t, "gap after a crash", idemProduce(pcc, "seq", idemBatch(t, pid, 0, 7, "x")), 0, kerr.OutOfOrderSequenceNumber)
	wantProduced(t, "next after a crash", idemProduce(pcc, "seq", idemBatch(t, pid, 0, 5, "f")), 5, nil)
	tc.stop(t)

	// Snapshot at offset 5 from a clean restart, then more, then a crash.
	tb.stop(t)
	tb = startBroker(t, dir, nil)
	pc = dialPinned(t, tb)
	b2 := idemBatch(t, pid, 0, 5, "F", "G")
	wantProduced(t, "b2", idemProduce(pc, "seq", b2), 5, nil)
	crashed2 := t.TempDir()
	copyDir(t, dir, crashed2)
	tc = startBroker(t, crashed2, nil)
	pcc = dialPinned(t, tc)
	wantProduced(t, "retry b2 after snapshot and crash", idemProduce(pcc, "seq", b2), 5, nil)
	wantProduced(t, "retry b1 after snapshot and crash", idemProduce(pcc, "seq", b1), 3, nil)
	wantProduced(t, "next after snapshot and crash", idemProduce(pcc, "seq", idemBatch(t, pid, 0, 7, "H")), 7, nil)
	p, _ := tc.topics.partition("seq", 0)
	if got := logValues(t, p); got != "a,b,c,d,e,F,G,H" {
		t.Fatalf("log holds %s", got)
	}
}

// TestIdempotentClientAcrossRestart: one franz-go producer keeps producing
// while the broker restarts on the same address; nothing is duplicated or
// lost and the offsets run on.
func TestIdempotentClientAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	addr := tb.addr()
	if _, err := tb.topics.create("across", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, tb, kgo.DefaultProduceTopic("across"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	ctx := testCtx(t)
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			res := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)})
			if err := res.FirstErr(); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if res[0].Record.Offset != int64(i) {
				t.Fatalf("record %d acknowledged at %d", i, res[0].Record.Offset)
			}
		}
	}
	produce(0, 50)
	tb.stop(t)
	tb = startBroker(t, dir, func(c *Config) { c.Listen = addr })
	produce(50, 100)
	p, _ := tb.topics.partition("across", 0)
	recs := logRecords(t, p)
	if len(recs) != 100 {
		t.Fatalf("%d records stored, want 100", len(recs))
	}
	for i, r := range recs {
		if r.value != strconv.Itoa(i) || r.offset != int64(i) {
			t.Fatalf("offset %d holds %q", r.offset, r.value)
		}
	}
}
