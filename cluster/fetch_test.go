package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
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

// wireConn is a bare Kafka connection to a test broker, for requests at an
// exact version: franz-go always negotiates the highest both sides know.
type wireConn struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	fmt  *kmsg.RequestFormatter
	corr int32
}

func dialWire(t testing.TB, tb *testBroker) *wireConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tb.addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wireConn{t: t, c: c, r: bufio.NewReader(c), fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("wire-test"))}
}

// request sends req at version and reads its response. It may be called
// from any one goroutine at a time.
func (w *wireConn) request(req kmsg.Request, version int16) (kmsg.Response, error) {
	req.SetVersion(version)
	w.corr++
	w.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := w.c.Write(w.fmt.AppendRequest(nil, req, w.corr)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(w.r, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(w.r, body); err != nil {
		return nil, err
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != w.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", corr, w.corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(version)
	body = body[4:]
	if resp.IsFlexible() && req.Key() != 18 {
		var err error
		if body, err = skipTaggedFields(body); err != nil {
			return nil, err
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %s v%d response: %w", kmsg.NameForKey(req.Key()), version, err)
	}
	return resp, nil
}

func (w *wireConn) do(req kmsg.Request, version int16) kmsg.Response {
	w.t.Helper()
	resp, err := w.request(req, version)
	if err != nil {
		w.t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), version, err)
	}
	return resp
}

func (w *wireConn) fetch(req *kmsg.FetchRequest, version int16) *kmsg.FetchResponse {
	w.t.Helper()
	return w.do(req, version).(*kmsg.FetchResponse)
}

// makeTopic creates a topic directly in the broker's store (CreateTopics is
// served by its own file) and returns it.
func makeTopic(t testing.TB, tb *testBroker, name string, partitions int32) topicView {
	t.Helper()
	tp, err := tb.topics.create(name, partitions, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return tb.topics.view(tp)
}

// fetchAt names one partition and offset of a fetch.
type fetchAt struct {
	partition int32
	offset    int64
}

// fetchRequest asks for tv's partitions, by name and by id (so that it
// works at every version), answering at once with up to 1 MiB each.
func fetchRequest(tv topicView, at ...fetchAt) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 64<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = tv.name, tv.id
	for _, a := range at {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = a.partition, a.offset, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchedRecord is one record decoded from a fetch response.
type fetchedRecord struct {
	offset int64
	value  string
}

// decodeFetched decodes the batches of one fetched partition, checking
// that they are whole.
func decodeFetched(t testing.TB, batches []byte) (recs []fetchedRecord, nbatches int) {
	t.Helper()
	it := rlog.NewBatchIter(batches)
	for _, b, ok := it.Next(); ok; _, b, ok = it.Next() {
		h, rs, err := rlog.DecodeRecords(b)
		if err != nil {
			t.Fatalf("fetched batch %d: %v", nbatches, err)
		}
		for _, r := range rs {
			recs = append(recs, fetchedRecord{h.BaseOffset + int64(r.OffsetDelta), string(r.Value)})
		}
		nbatches++
	}
	if it.Err() != nil || it.Pos() != len(batches) {
		t.Fatalf("fetched bytes are not whole batches: %d of %d used, %v", it.Pos(), len(batches), it.Err())
	}
	return recs, nbatches
}

func offsetsOf(recs []fetchedRecord) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.offset
	}
	return out
}

// produceOne produces each value as its own batch to one partition and
// returns the acknowledged offsets.
func produceOne(t testing.TB, cl *kgo.Client, topic string, partition int32, values ...string) []int64 {
	t.Helper()
	var offs []int64
	for _, v := range values {
		r := &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)}
		if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatalf("produce %q: %v", v, err)
		}
		offs = append(offs, r.Offset)
	}
	return offs
}

func manualProducer(t testing.TB, tb *testBroker, opts ...kgo.Opt) *kgo.Client {
	return newClient(t, tb, append([]kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks())}, opts...)...)
}

// watchParkedFetches reports on the returned channel each time a fetch on
// tb starts waiting for appends.
func watchParkedFetches(t testing.TB, tb *testBroker) <-chan struct{} {
	ch := make(chan struct{}, 16)
	hook := func(b *Broker) {
		if b == tb.Broker {
			select {
			case ch <- struct{}{}:
			default: // nobody is counting
			}
		}
	}
	fetchParkedHook.Store(&hook)
	t.Cleanup(func() { fetchParkedHook.Store(nil) })
	return ch
}

func awaitParked(t testing.TB, parked <-chan struct{}) {
	t.Helper()
	select {
	case <-parked:
	case <-time.After(10 * time.Second):
		t.Fatal("the fetch never started waiting")
	}
}

type fetchResult struct {
	resp *kmsg.FetchResponse
	err  error
	took time.Duration
}

// fetchAsync sends req on w from a new goroutine.
func fetchAsync(w *wireConn, req *kmsg.FetchRequest, version int16) <-chan fetchResult {
	out := make(chan fetchResult, 1)
	go func() {
		start := time.Now()
		resp, err := w.request(req, version)
		r := fetchResult{err: err, took: time.Since(start)}
		if err == nil {
			r.resp = resp.(*kmsg.FetchResponse)
		}
		out <- r
	}()
	return out
}

func awaitFetch(t testing.TB, ch <-chan fetchResult) fetchResult {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("fetch did not return")
	}
	panic("unreachable")
}

// TestFetchFranzRoundTrip: five idempotent acks=all producers, one per
// compression codec, write concurrently to four partitions; franz-go
// consumers read back every record at exactly the offset its produce was
// acknowledged with, in order, through small fetch limits that take many
// fetches.
func TestFetchFranzRoundTrip(t *testing.T) {
	const (
		topic       = "round-trip"
		partitions  = 4
		perProducer = 300
	)
	tb := startBroker(t, "", func(c *Config) { c.NumPartitions = partitions })
	ctx := testCtx(t)
	codecs := []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(),
		kgo.Lz4Compression(), kgo.ZstdCompression()}
	var (
		mu    sync.Mutex
		acked = map[int32]map[int64]string{} // partition → offset → value
		wg    sync.WaitGroup
	)
	for i := range partitions {
		acked[int32(i)] = map[int64]string{}
	}
	for i, codec := range codecs {
		cl := newClient(t, tb, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(codec),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(2*time.Millisecond))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perProducer {
				r := &kgo.Record{Partition: int32(j % partitions),
					Value: fmt.Appendf(nil, "producer %d record %04d %s", i, j, strings.Repeat("abc", j%50))}
				cl.Produce(ctx, r, func(r *kgo.Record, err error) {
					if err != nil {
						t.Errorf("producer %d: %v", i, err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					if _, dup := acked[r.Partition][r.Offset]; dup {
						t.Errorf("offset %d-%d acknowledged twice", r.Partition, r.Offset)
					}
					acked[r.Partition][r.Offset] = string(r.Value)
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Errorf("flush producer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	total := len(codecs) * perProducer
	checkIdempotentBatches(t, tb, topic, partitions)

	consumer := newClient(t, tb, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(48<<10), kgo.FetchMaxPartitionBytes(16<<10), kgo.FetchMaxWait(500*time.Millisecond))
	got := consumeN(t, ctx, consumer, total)
	for p := range int32(partitions) {
		checkConsumed(t, p, got[p], acked[p], 0)
	}

	// One partition from an offset inside a batch: the consumer starts
	// exactly there.
	from := int64(perProducer / 3)
	one := newClient(t, tb, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {1: kgo.NewOffset().At(from)}}))
	got = consumeN(t, ctx, one, len(acked[1])-int(from))
	checkConsumed(t, 1, got[1], acked[1], from)
}

// consumeN polls cl until n records arrived, by partition.
func consumeN(t testing.TB, ctx context.Context, cl *kgo.Client, n int) map[int32][]*kgo.Record {
	t.Helper()
	got := map[int32][]*kgo.Record{}
	for count := 0; count < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", count, n, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r)
			count++
		})
	}
	return got
}

// checkConsumed checks that got holds exactly acked's records from offset
// from on, in offset order with no gap.
func checkConsumed(t testing.TB, p int32, got []*kgo.Record, acked map[int64]string, from int64) {
	t.Helper()
	want := int64(len(acked)) - from
	if int64(len(got)) != want {
		t.Fatalf("partition %d: consumed %d records, want %d", p, len(got), want)
	}
	for i, r := range got {
		off := from + int64(i)
		if r.Offset != off {
			t.Fatalf("partition %d: record %d at offset %d, want %d", p, i, r.Offset, off)
		}
		if v, ok := acked[off]; !ok || v != string(r.Value) {
			t.Fatalf("partition %d offset %d: consumed %q, acknowledged %q", p, off, r.Value, v)
		}
	}
}

// checkIdempotentBatches checks that the producers' batches carry producer
// ids once the broker hands them out (InitProducerId, in its own file);
// until then franz-go produces without one.
func checkIdempotentBatches(t testing.TB, tb *testBroker, topic string, partitions int32) {
	t.Helper()
	if _, ok := apis[22]; !ok {
		t.Log("InitProducerId is not served yet: producers ran without producer ids")
		return
	}
	for i := range partitions {
		p, _ := tb.topics.partition(topic, i)
		buf, err := p.log.ReadBatches(0, 1<<30, p.log.HighWatermark())
		if err != nil {
			t.Fatal(err)
		}
		it := rlog.NewBatchIter(buf)
		for h, _, ok := it.Next(); ok; h, _, ok = it.Next() {
			if h.ProducerID < 0 {
				t.Fatalf("partition %d: batch at %d has no producer id", i, h.BaseOffset)
			}
		}
	}
}

// TestFetchSaramaRoundTrip: IBM/sarama's sync producer and partition
// consumer round trip through the broker, and sarama's offset lookups see
// the same offsets.
func TestFetchSaramaRoundTrip(t *testing.T) {
	const topic, n = "sarama", 200
	tb := startBroker(t, "", func(c *Config) { c.NumPartitions = 2 })
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "runnel-test"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = sarama.CompressionSnappy
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	if _, ok := apis[22]; ok { // InitProducerId is served
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	prod, err := sarama.NewSyncProducer([]string{tb.addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	acked := map[int32]map[int64]string{0: {}, 1: {}}
	for i := range n {
		v := fmt.Sprintf("sarama %d", i)
		p, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: int32(i % 2), Value: sarama.StringEncoder(v)})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		acked[p][off] = v
	}

	client, err := sarama.NewClient([]string{tb.addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	for p := range int32(2) {
		if oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest); err != nil || oldest != 0 {
			t.Fatalf("partition %d oldest offset %d, %v", p, oldest, err)
		}
		if newest, err := client.GetOffset(topic, p, sarama.OffsetNewest); err != nil || newest != int64(len(acked[p])) {
			t.Fatalf("partition %d newest offset %d, %v; want %d", p, newest, err, len(acked[p]))
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for want := int64(0); want < int64(len(acked[p])); want++ {
			select {
			case m := <-pc.Messages():
				if m.Offset != want || string(m.Value) != acked[p][want] {
					t.Fatalf("partition %d: consumed %q at %d, want %q at %d", p, m.Value, m.Offset, acked[p][want], want)
				}
			case err := <-pc.Errors():
				t.Fatalf("partition %d: %v", p, err)
			case <-time.After(20 * time.Second):
				t.Fatalf("partition %d: no record at offset %d", p, want)
			}
		}
		pc.Close()
	}
}

// TestFetchEveryVersion fetches at each version served, by topic name
// before v13 and by topic id only from v13.
func TestFetchEveryVersion(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "versions", 1)
	produceOne(t, manualProducer(t, tb), tv.name, 0, "a", "b", "c")
	w := dialWire(t, tb)
	for v := apis[1].min; v <= apis[1].max; v++ {
		req := fetchRequest(tv, fetchAt{0, 1})
		if v >= 13 {
			req.Topics[0].Topic = ""
		} else {
			req.Topics[0].TopicID = [16]byte{}
		}
		resp := w.fetch(req, v)
		if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		st := resp.Topics[0]
		if (v >= 13 && st.TopicID != tv.id) || (v < 13 && st.Topic != tv.name) {
			t.Fatalf("v%d: answered for topic %q %x", v, st.Topic, st.TopicID)
		}
		sp := st.Partitions[0]
		recs, _ := decodeFetched(t, sp.RecordBatches)
		if sp.ErrorCode != 0 || sp.HighWatermark != 3 || len(recs) != 2 || recs[0] != (fetchedRecord{1, "b"}) {
			t.Fatalf("v%d: error %d, high watermark %d, records %v", v, sp.ErrorCode, sp.HighWatermark, recs)
		}
		if v >= 4 && sp.LastStableOffset != 3 {
			t.Fatalf("v%d: last stable offset %d", v, sp.LastStableOffset)
		}
		if v >= 5 && sp.LogStartOffset != 0 {
			t.Fatalf("v%d: log start offset %d", v, sp.LogStartOffset)
		}
	}
}

// TestFetchLongPollWakesOnProduce: a fetch waiting on empty partitions
// (max wait 2 s) answers as soon as a record is produced to one of them.
func TestFetchLongPollWakesOnProduce(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "long-poll", 3)
	parked := watchParkedFetches(t, tb)
	prod := manualProducer(t, tb)
	for _, at := range [][]fetchAt{{{0, 0}}, {{0, 1}, {1, 0}, {2, 0}}} { // one partition, then several
		req := fetchRequest(tv, at...)
		req.MaxWaitMillis = 2000
		done := fetchAsync(dialWire(t, tb), req, 16)
		awaitParked(t, parked)
		produced := time.Now()
		last := at[len(at)-1]
		produceOne(t, prod, tv.name, last.partition, "wake up")
		r := awaitFetch(t, done)
		ps := r.resp.Topics[0].Partitions
		recs, _ := decodeFetched(t, ps[len(ps)-1].RecordBatches)
		if len(recs) != 1 || recs[0] != (fetchedRecord{last.offset, "wake up"}) {
			t.Fatalf("fetching %v: fetched %v", at, recs)
		}
		if since := time.Since(produced); since > time.Second {
			t.Fatalf("fetching %v: answered %v after the produce; max wait is 2 s", at, since)
		}
	}
}

// TestFetchLongPollTimesOut: with nothing to read a fetch answers after
// its max wait, empty.
func TestFetchLongPollTimesOut(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "idle", 2)
	req := fetchRequest(tv, fetchAt{0, 0}, fetchAt{1, 0})
	req.MaxWaitMillis = 400
	r := awaitFetch(t, fetchAsync(dialWire(t, tb), req, 16))
	if r.took < 400*time.Millisecond || r.took > 5*time.Second {
		t.Fatalf("empty fetch with max wait 400 ms answered after %v", r.took)
	}
	for _, sp := range r.resp.Topics[0].Partitions {
		if sp.ErrorCode != 0 || len(sp.RecordBatches) != 0 || sp.HighWatermark != 0 {
			t.Fatalf("partition %d: error %d, %d bytes, high watermark %d", sp.Partition, sp.ErrorCode, len(sp.RecordBatches), sp.HighWatermark)
		}
		if sp.RecordBatches == nil {
			t.Fatalf("partition %d: a null record set (librdkafka refuses it), not an empty one", sp.Partition)
		}
	}
}

// TestFetchMinBytes: a fetch waits until MinBytes are readable across its
// partitions, through appends that do not reach it, and at the max wait
// answers with what there is.
func TestFetchMinBytes(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "min-bytes", 2)
	parked := watchParkedFetches(t, tb)
	prod := manualProducer(t, tb)
	produceOne(t, prod, tv.name, 0, "record 0")
	batchSize := int32(tv.partitions[0].log.Size()) // every batch here is this size

	req := fetchRequest(tv, fetchAt{0, 0}, fetchAt{1, 0})
	req.MaxWaitMillis, req.MinBytes = 20000, 2*batchSize+1
	done := fetchAsync(dialWire(t, tb), req, 16)
	awaitParked(t, parked) // one batch readable
	produceOne(t, prod, tv.name, 1, "record 1")
	awaitParked(t, parked) // two batches: still short
	produceOne(t, prod, tv.name, 0, "record 2")
	r := awaitFetch(t, done)
	ps := r.resp.Topics[0].Partitions
	_, n0 := decodeFetched(t, ps[0].RecordBatches)
	_, n1 := decodeFetched(t, ps[1].RecordBatches)
	if n0 != 2 || n1 != 1 {
		t.Fatalf("fetched %d and %d batches, want 2 and 1", n0, n1)
	}
	if r.took > 10*time.Second {
		t.Fatalf("fetch took %v: it should answer once MinBytes were there", r.took)
	}

	// MinBytes never reached: the max wait answers with what there is.
	req.MaxWaitMillis, req.MinBytes = 300, 1<<20
	r = awaitFetch(t, fetchAsync(dialWire(t, tb), req, 16))
	_, n0 = decodeFetched(t, r.resp.Topics[0].Partitions[0].RecordBatches)
	if n0 != 2 || r.took < 300*time.Millisecond {
		t.Fatalf("fetched %d batches after %v, want 2 after the 300 ms max wait", n0, r.took)
	}
}

// TestFetchMaxBytes: MaxBytes bounds the response and PartitionMaxBytes
// each partition, in whole batches, except that the first batch of the
// first partition with records always goes (KIP-74).
func TestFetchMaxBytes(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "max-bytes", 2)
	prod := manualProducer(t, tb)
	for p := range int32(2) {
		produceOne(t, prod, tv.name, p, "aaaa", "bbbb", "cccc", "dddd")
	}
	size := int32(tv.partitions[0].log.Size() / 4)
	w := dialWire(t, tb)
	cases := []struct {
		name              string
		at                []fetchAt
		maxBytes, partMax int32
		want              []int // batches per requested partition
	}{
		{"all", []fetchAt{{0, 0}, {1, 0}}, 100 * size, 100 * size, []int{4, 4}},
		{"response limit", []fetchAt{{0, 0}, {1, 0}}, 2*size + size/2, 100 * size, []int{2, 0}},
		{"response limit spans partitions", []fetchAt{{0, 1}, {1, 0}}, 5 * size, 100 * size, []int{3, 2}},
		{"partition limit", []fetchAt{{0, 0}, {1, 0}}, 100 * size, size + size/2, []int{1, 1}},
		{"tiny response limit", []fetchAt{{0, 0}, {1, 0}}, 1, 100 * size, []int{1, 0}},
		{"tiny partition limit", []fetchAt{{0, 0}, {1, 0}}, 100 * size, 1, []int{1, 0}},
		{"first partition empty", []fetchAt{{0, 4}, {1, 2}}, 1, 100 * size, []int{0, 1}},
	}
	for _, c := range cases {
		for _, v := range []int16{4, 16} {
			req := fetchRequest(tv, c.at...)
			req.MaxBytes = c.maxBytes
			for i := range req.Topics[0].Partitions {
				req.Topics[0].Partitions[i].PartitionMaxBytes = c.partMax
			}
			resp := w.fetch(req, v)
			for i, sp := range resp.Topics[0].Partitions {
				recs, n := decodeFetched(t, sp.RecordBatches)
				if sp.ErrorCode != 0 || n != c.want[i] {
					t.Errorf("%s v%d: partition %d: error %d, %d batches, want %d", c.name, v, sp.Partition, sp.ErrorCode, n, c.want[i])
				}
				if n > 0 && recs[0].offset != c.at[i].offset {
					t.Errorf("%s v%d: partition %d starts at %d", c.name, v, sp.Partition, recs[0].offset)
				}
			}
		}
	}
}

// TestFetchHighWatermark: a consumer never reads at or above the high
// watermark, a follower reads to the log end.
func TestFetchHighWatermark(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "hw", 1)
	produceOne(t, manualProducer(t, tb), tv.name, 0, "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
	tv.partitions[0].log.SetHighWatermark(5)
	w := dialWire(t, tb)

	for _, v := range []int16{4, 12, 16} {
		resp := w.fetch(fetchRequest(tv, fetchAt{0, 0}), v)
		sp := resp.Topics[0].Partitions[0]
		recs, _ := decodeFetched(t, sp.RecordBatches)
		if got := offsetsOf(recs); sp.ErrorCode != 0 || len(got) != 5 || got[4] != 4 || sp.HighWatermark != 5 || sp.LastStableOffset != 5 {
			t.Fatalf("v%d consumer: error %d, offsets %v, high watermark %d, last stable %d", v, sp.ErrorCode, got, sp.HighWatermark, sp.LastStableOffset)
		}
		for _, off := range []int64{5, 8, 10} { // at the HW, between it and the log end, at the end
			sp := w.fetch(fetchRequest(tv, fetchAt{0, off}), v).Topics[0].Partitions[0]
			if sp.ErrorCode != 0 || len(sp.RecordBatches) != 0 {
				t.Fatalf("v%d consumer at %d: error %d, %d bytes", v, off, sp.ErrorCode, len(sp.RecordBatches))
			}
		}
		sp = w.fetch(fetchRequest(tv, fetchAt{0, 11}), v).Topics[0].Partitions[0]
		if sp.ErrorCode != kerr.OffsetOutOfRange.Code || sp.HighWatermark != 5 || (v >= 5 && sp.LogStartOffset != 0) {
			t.Fatalf("v%d past the log end: error %d, high watermark %d, log start %d", v, sp.ErrorCode, sp.HighWatermark, sp.LogStartOffset)
		}

		follower := fetchRequest(tv, fetchAt{0, 0})
		follower.ReplicaID, follower.ReplicaState.ID = 1, 1
		sp = w.fetch(follower, v).Topics[0].Partitions[0]
		if recs, _ := decodeFetched(t, sp.RecordBatches); len(recs) != 10 {
			t.Fatalf("v%d follower: fetched %v, want offsets 0-9", v, offsetsOf(recs))
		}
	}

	lo := w.do(listOffsetsRequest(tv.name, -1, 0), 8).(*kmsg.ListOffsetsResponse)
	if sp := lo.Topics[0].Partitions[0]; sp.Offset != 5 {
		t.Fatalf("latest offset %d with the high watermark at 5", sp.Offset)
	}
	// A fetch parked at the high watermark does not see records above it.
	req := fetchRequest(tv, fetchAt{0, 5})
	req.MaxWaitMillis = 200
	if sp := w.fetch(req, 16).Topics[0].Partitions[0]; len(sp.RecordBatches) != 0 {
		t.Fatalf("long poll at the high watermark returned %d bytes", len(sp.RecordBatches))
	}
}

// TestFetchErrors: unknown topics, ids and partitions, and continued fetch
// sessions, answer at once with their error; known partitions in the
// same request still get their records.
func TestFetchErrors(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "known", 1)
	produceOne(t, manualProducer(t, tb), tv.name, 0, "x")
	w := dialWire(t, tb)

	mixed := func(version int16, unknown kmsg.FetchRequestTopic) *kmsg.FetchResponse {
		req := fetchRequest(tv, fetchAt{0, 0}, fetchAt{7, 0})
		req.MaxWaitMillis, req.MinBytes = 10000, 1<<20
		req.Topics = append(req.Topics, unknown)
		start := time.Now()
		resp := w.fetch(req, version)
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("v%d: a fetch with errors waited %v", version, took)
		}
		ps := resp.Topics[0].Partitions
		if recs, _ := decodeFetched(t, ps[0].RecordBatches); ps[0].ErrorCode != 0 || len(recs) != 1 {
			t.Fatalf("v%d: known partition: error %d, records %v", version, ps[0].ErrorCode, recs)
		}
		if ps[1].ErrorCode != kerr.UnknownTopicOrPartition.Code || ps[1].HighWatermark != -1 {
			t.Fatalf("v%d: partition 7 of a 1-partition topic: error %d, high watermark %d", version, ps[1].ErrorCode, ps[1].HighWatermark)
		}
		return resp
	}
	byName := kmsg.NewFetchRequestTopic()
	byName.Topic = "no-such-topic"
	byName.Partitions = []kmsg.FetchRequestTopicPartition{kmsg.NewFetchRequestTopicPartition()}
	if resp := mixed(12, byName); resp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic by name: error %d", resp.Topics[1].Partitions[0].ErrorCode)
	}
	byID := byName
	byID.Topic, byID.TopicID = "", [16]byte{1, 2, 3}
	if resp := mixed(16, byID); resp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code || resp.Topics[1].TopicID != byID.TopicID {
		t.Fatalf("unknown topic id: %+v", resp.Topics[1])
	}

	// Sessions are declined: a new one is not created, a continued one
	// is not found.
	req := fetchRequest(tv, fetchAt{0, 0})
	req.SessionID, req.SessionEpoch = 0, 0
	if resp := w.fetch(req, 16); resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 1 {
		t.Fatalf("new session: error %d, session %d", resp.ErrorCode, resp.SessionID)
	}
	req.SessionID, req.SessionEpoch = 42, 3
	if resp := w.fetch(req, 16); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || len(resp.Topics) != 0 {
		t.Fatalf("continued session: error %d, %d topics", resp.ErrorCode, len(resp.Topics))
	}
}

// TestFetchEndsWhenBrokerCloses: a long poll does not hold up Close.
func TestFetchEndsWhenBrokerCloses(t *testing.T) {
	tb := startBroker(t, "", nil)
	tv := makeTopic(t, tb, "closing", 1)
	parked := watchParkedFetches(t, tb)
	req := fetchRequest(tv, fetchAt{0, 0})
	req.MaxWaitMillis = 20000
	done := fetchAsync(dialWire(t, tb), req, 16)
	awaitParked(t, parked)
	start := time.Now()
	tb.stop(t)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("close took %v with a fetch waiting", took)
	}
	select {
	case r := <-done:
		if r.err == nil && r.took > 10*time.Second {
			t.Fatalf("fetch answered after %v", r.took)
		}
		if r.err != nil && !errors.Is(r.err, io.EOF) && !errors.Is(r.err, net.ErrClosed) && !strings.Contains(r.err.Error(), "reset") {
			t.Fatalf("fetch: %v", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fetch outlived the broker")
	}
}
