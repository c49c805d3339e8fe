package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// bytesSource is a recordSource over bytes. short makes WriteTo send that
// many bytes fewer (a log truncated under the slice); failRead makes
// AppendTo fail.
type bytesSource struct {
	b        []byte
	short    int
	failRead bool
	closed   int
}

func (s *bytesSource) Len() int { return len(s.b) }
func (s *bytesSource) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(s.b[:len(s.b)-s.short])
	return int64(n), err
}
func (s *bytesSource) AppendTo(dst []byte) ([]byte, error) {
	if s.failRead {
		return dst, errors.New("read failed")
	}
	return append(dst, s.b...), nil
}
func (s *bytesSource) Close() { s.closed++ }

// randomFetchResponse builds a response of the given version of random
// shape, exercising every field kmsg writes around the records, and the
// records of each partition (nil: none).
func randomFetchResponse(rng *rand.Rand, version int16) (*kmsg.FetchResponse, [][]byte) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = version
	resp.ThrottleMillis, resp.ErrorCode, resp.SessionID = rng.Int32N(1000), int16(rng.IntN(3)), rng.Int32()
	flexible := version >= 12
	var recs [][]byte
	for range rng.IntN(4) {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = string(bytes.Repeat([]byte{'t'}, 1+rng.IntN(200))) // over 127: a two-byte compact length
		for i := range t.TopicID {
			t.TopicID[i] = byte(rng.Uint32())
		}
		for range rng.IntN(5) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition, p.ErrorCode = rng.Int32N(100), int16(rng.IntN(2))
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = rng.Int64(), rng.Int64(), rng.Int64()
			p.PreferredReadReplica = rng.Int32N(3) - 1
			for range rng.IntN(3) {
				a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				a.ProducerID, a.FirstOffset = rng.Int64(), rng.Int64()
				p.AbortedTransactions = append(p.AbortedTransactions, a)
			}
			if flexible && rng.IntN(3) == 0 {
				p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = rng.Int32N(9), rng.Int64N(99)
			}
			if flexible && rng.IntN(3) == 0 {
				p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = 1, 2
			}
			if flexible && rng.IntN(3) == 0 {
				p.SnapshotID.EndOffset, p.SnapshotID.Epoch = 7, 8
			}
			if flexible && rng.IntN(4) == 0 {
				p.UnknownTags.Set(99, []byte{0xff, 0, 1})
			}
			var r []byte
			switch rng.IntN(4) {
			case 1:
				r = randomBytes(rng, 1+rng.IntN(126))
			case 2:
				r = randomBytes(rng, 127+rng.IntN(20000)) // multi-byte uvarint prefix
			case 3:
				if rng.IntN(8) == 0 {
					r = randomBytes(rng, spliceMinBytes+rng.IntN(1<<16))
				}
			}
			recs = append(recs, r)
			t.Partitions = append(t.Partitions, p)
		}
		if flexible && rng.IntN(4) == 0 {
			t.UnknownTags.Set(5, []byte("topic tag"))
		}
		resp.Topics = append(resp.Topics, t)
	}
	if version >= 16 && rng.IntN(2) == 0 {
		br := kmsg.NewFetchResponseBroker()
		br.NodeID, br.Host, br.Port = 1, "localhost", 9092
		resp.Brokers = append(resp.Brokers, br)
	}
	if flexible && rng.IntN(4) == 0 {
		resp.UnknownTags.Set(77, []byte("response tag"))
	}
	return resp, recs
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// splicedOf wraps resp with a bytesSource for each partition with records,
// as the fetch does, and sets the others' records empty.
func splicedOf(resp *kmsg.FetchResponse, recs [][]byte) (*fetchResponse, []*bytesSource) {
	r := &fetchResponse{FetchResponse: resp}
	var srcs []*bytesSource
	k := 0
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			out := &resp.Topics[i].Partitions[j]
			out.RecordBatches = []byte{}
			if len(recs[k]) > 0 {
				src := &bytesSource{b: recs[k]}
				srcs = append(srcs, src)
				r.recs = append(r.recs, fetchRecords{out: out, slice: src})
			}
			k++
		}
	}
	return r, srcs
}

// kmsgFrame is the frame kmsg itself encodes with the records in place.
func kmsgFrame(resp *kmsg.FetchResponse, recs [][]byte, corr int32) []byte {
	k := 0
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			resp.Topics[i].Partitions[j].RecordBatches = append([]byte{}, recs[k]...)
			k++
		}
	}
	return appendResponse(nil, corr, resp)
}

// TestFetchFrameIsKmsgEncoding: for every Fetch version served and
// responses of many shapes (topics, partitions with and without records,
// record sets whose length prefix takes one to three bytes, aborted
// transactions, every tagged field), the frame written in pieces around
// the records and the frame copied into one buffer are both, byte for
// byte, the frame kmsg encodes with the records in the response.
func TestFetchFrameIsKmsgEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for v := apis[1].min; v <= apis[1].max; v++ {
		for shape := range 150 {
			resp, recs := randomFetchResponse(rng, v)
			corr := rng.Int32()
			want := kmsgFrame(resp, recs, corr)
			type writer func(*fetchResponse, io.Writer, int32, []byte) ([]byte, error)
			for name, write := range map[string]writer{
				"spliced": (*fetchResponse).writeSpliced,
				"copied":  (*fetchResponse).writeCopied,
				"writeFrame": func(r *fetchResponse, w io.Writer, corr int32, buf []byte) ([]byte, error) {
					return r.writeFrame(w, true, corr, buf)
				},
			} {
				r, srcs := splicedOf(resp, recs)
				var got bytes.Buffer
				buf, err := write(r, &got, corr, getBuf(0))
				if err != nil {
					t.Fatalf("v%d shape %d %s: %v", v, shape, name, err)
				}
				putBuf(buf)
				if !bytes.Equal(got.Bytes(), want) {
					t.Fatalf("v%d shape %d %s: frame of %d bytes differs from kmsg's %d (first difference at %d)",
						v, shape, name, got.Len(), len(want), firstDiff(got.Bytes(), want))
				}
				r.release()
				for i, s := range srcs {
					if s.closed != 1 {
						t.Fatalf("v%d shape %d %s: records %d closed %d times", v, shape, name, i, s.closed)
					}
				}
			}
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestFetchFrameShortRecords: when the log gives fewer bytes than a slice
// held after the length went out, the write fails (the connection closes)
// rather than sending a frame shorter than its size.
func TestFetchFrameShortRecords(t *testing.T) {
	for _, v := range []int16{4, 11, 12, 16} {
		resp, _ := randomFetchResponse(rand.New(rand.NewPCG(1, 2)), v)
		resp.Topics = []kmsg.FetchResponseTopic{kmsg.NewFetchResponseTopic()}
		resp.Topics[0].Partitions = []kmsg.FetchResponseTopicPartition{kmsg.NewFetchResponseTopicPartition()}
		r, srcs := splicedOf(resp, [][]byte{bytes.Repeat([]byte("x"), 1000)})
		srcs[0].short = 10
		var got bytes.Buffer
		if _, err := r.writeSpliced(&got, 1, nil); !errors.Is(err, errShortRecords) {
			t.Fatalf("v%d: %v, want errShortRecords", v, err)
		}
		size := int(uint32(got.Bytes()[0])<<24 | uint32(got.Bytes()[1])<<16 | uint32(got.Bytes()[2])<<8 | uint32(got.Bytes()[3]))
		if got.Len() >= 4+size {
			t.Fatalf("v%d: %d bytes sent for a frame of %d", v, got.Len(), 4+size)
		}
	}
}

// TestFetchFrameReadErrorCopied: a partition whose records cannot be read
// while the frame is copied answers KAFKA_STORAGE_ERROR with no records;
// the other partitions keep theirs.
func TestFetchFrameReadErrorCopied(t *testing.T) {
	for _, v := range []int16{4, 12, 16} {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = v
		tp := kmsg.NewFetchResponseTopic()
		tp.Topic = "t"
		for i := range int32(3) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = i
			tp.Partitions = append(tp.Partitions, p)
		}
		resp.Topics = append(resp.Topics, tp)
		recs := [][]byte{[]byte("zero"), []byte("one"), []byte("two")}
		r, srcs := splicedOf(resp, recs)
		r.b = &Broker{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		r.recs[1].p = &partition{topic: "t", index: 1}
		srcs[1].failRead = true
		var got bytes.Buffer
		if _, err := r.writeCopied(&got, 7, nil); err != nil {
			t.Fatal(err)
		}
		dec := kmsg.NewPtrFetchResponse()
		dec.Version = v
		body := got.Bytes()[8:]
		if dec.IsFlexible() {
			body = body[1:]
		}
		if err := dec.ReadFrom(body); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		ps := dec.Topics[0].Partitions
		if string(ps[0].RecordBatches) != "zero" || len(ps[1].RecordBatches) != 0 || string(ps[2].RecordBatches) != "two" ||
			ps[1].ErrorCode != kerr.KafkaStorageError.Code || ps[0].ErrorCode != 0 {
			t.Fatalf("v%d: %+v", v, ps)
		}
		r.release()
		for i, s := range srcs {
			if s.closed != 1 {
				t.Fatalf("v%d: records %d closed %d times", v, i, s.closed)
			}
		}
	}
}

// pipeWire serves a wire connection over net.Pipe, which is not a TCP
// connection: responses are copied, not sent with sendfile.
func pipeWire(t testing.TB, tb *testBroker) *wireConn {
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); tb.serveConn(server) }()
	t.Cleanup(func() { client.Close(); server.Close(); <-done })
	return &wireConn{t: t, c: client, r: bufio.NewReader(client), fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("pipe-test"))}
}

// fetchScenario is topics with records of known offsets and values.
type fetchScenario struct {
	topics []topicView
	values map[string][][]string // topic → partition → values, by offset
}

// newFetchScenario makes three topics: "big" (3 partitions: 300 KiB in 5
// KiB batches, none, a few small batches), "mid" (2 partitions: 100 KiB, a
// few) and "empty" (1 partition, nothing).
func newFetchScenario(t *testing.T, tb *testBroker) *fetchScenario {
	s := &fetchScenario{values: map[string][][]string{}}
	prod := manualProducer(t, tb, kgo.ProducerBatchCompression(kgo.NoCompression()))
	fill := func(name string, counts []int, size int) {
		tv := makeTopic(t, tb, name, int32(len(counts)))
		s.topics = append(s.topics, tv)
		s.values[name] = make([][]string, len(counts))
		for p, n := range counts {
			for i := range n {
				v := fmt.Sprintf("%s-%d-%d-", name, p, i)
				if size > 0 && i%2 == 0 {
					v += string(bytes.Repeat([]byte{byte('a' + i%26)}, size))
				}
				s.values[name][p] = append(s.values[name][p], v)
			}
			produceOne(t, prod, name, int32(p), s.values[name][p]...)
		}
	}
	fill("big", []int{120, 0, 5}, 5<<10)
	fill("mid", []int{40, 3}, 5<<10)
	fill("empty", []int{0}, 0)
	return s
}

// request asks for every partition of every topic from the offsets given
// by from (topic → partition → offset), by name before v13 and by id from
// v13.
func (s *fetchScenario) request(version int16, from func(topic string, p int) int64, maxBytes, partMax int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, maxBytes
	for _, tv := range s.topics {
		rt := kmsg.NewFetchRequestTopic()
		if version >= 13 {
			rt.TopicID = tv.id
		} else {
			rt.Topic = tv.name
		}
		for p := range tv.partitions {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = int32(p), from(tv.name, p), partMax
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// check verifies a response: every partition answered in order without
// error, records in whole batches from the offset asked for on, with the
// values produced, within the byte limits (KIP-74 aside).
func (s *fetchScenario) check(t *testing.T, label string, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, version int16) (records int) {
	t.Helper()
	if resp.ErrorCode != 0 || len(resp.Topics) != len(s.topics) {
		t.Fatalf("%s: error %d, %d topics", label, resp.ErrorCode, len(resp.Topics))
	}
	total, first := 0, true
	for i, st := range resp.Topics {
		tv, rt := s.topics[i], req.Topics[i]
		if (version >= 13 && st.TopicID != tv.id) || (version < 13 && st.Topic != tv.name) || len(st.Partitions) != len(tv.partitions) {
			t.Fatalf("%s: topic %d is %q %x with %d partitions", label, i, st.Topic, st.TopicID, len(st.Partitions))
		}
		for p, sp := range st.Partitions {
			want := s.values[tv.name][p]
			if sp.ErrorCode != 0 || sp.Partition != int32(p) || sp.HighWatermark != int64(len(want)) || sp.RecordBatches == nil {
				t.Fatalf("%s: %s-%d: error %d, partition %d, high watermark %d, null records %v", label, tv.name, p, sp.ErrorCode, sp.Partition, sp.HighWatermark, sp.RecordBatches == nil)
			}
			recs, nb := decodeFetched(t, sp.RecordBatches)
			from := rt.Partitions[p].FetchOffset
			for k, r := range recs {
				if off := from + int64(k); r.offset != off || r.value != want[off] {
					t.Fatalf("%s: %s-%d: record %d is offset %d %.20q, want %d %.20q", label, tv.name, p, k, r.offset, r.value, off, want[off])
				}
			}
			n := len(sp.RecordBatches)
			if n > 0 && (nb > 1 || !first) {
				if n > int(rt.Partitions[p].PartitionMaxBytes) || total+n > int(req.MaxBytes) {
					t.Fatalf("%s: %s-%d: %d bytes (%d batches) after %d: over the limits %d, %d", label, tv.name, p, n, nb, total, rt.Partitions[p].PartitionMaxBytes, req.MaxBytes)
				}
			}
			if n > 0 {
				first = false
			}
			total += n
			records += len(recs)
		}
	}
	return records
}

// TestFetchEveryVersionWire fetches at every version served, over TCP
// (records by sendfile for the big responses) and over a pipe (copied),
// several topics and partitions in one response, some empty, with and
// without byte limits, and decodes each response with kmsg.
func TestFetchEveryVersionWire(t *testing.T) {
	tb := startBroker(t, "", nil)
	s := newFetchScenario(t, tb)
	from0 := func(string, int) int64 { return 0 }
	middle := func(topic string, p int) int64 { return int64(len(s.values[topic][p]) / 2) }
	cases := []struct {
		name              string
		from              func(string, int) int64
		maxBytes, partMax int32
		wantRecords       int // -1: not checked (limited)
	}{
		{"everything", from0, 64 << 20, 1 << 20, 120 + 5 + 40 + 3},
		{"from the middle", middle, 64 << 20, 1 << 20, 60 + 3 + 20 + 2},
		{"partition limit", from0, 64 << 20, 50 << 10, -1},
		{"response limit", from0, 200 << 10, 1 << 20, -1},
		{"tiny limits", middle, 1, 1, 1},
	}
	spliced := fetchSplices.Load()
	for _, conn := range []struct {
		name string
		w    *wireConn
	}{{"tcp", dialWire(t, tb)}, {"pipe", pipeWire(t, tb)}} {
		for v := apis[1].min; v <= apis[1].max; v++ {
			for _, c := range cases {
				req := s.request(v, c.from, c.maxBytes, c.partMax)
				label := fmt.Sprintf("%s v%d %s", conn.name, v, c.name)
				got := s.check(t, label, req, conn.w.fetch(req, v), v)
				if c.wantRecords >= 0 && got != c.wantRecords {
					t.Fatalf("%s: %d records, want %d", label, got, c.wantRecords)
				}
			}
		}
		if conn.name == "tcp" && fetchSplices.Load() == spliced {
			t.Fatal("no response over TCP was sent in pieces")
		}
	}
}

// TestFetchSplicedClients: franz-go and sarama consume the scenario's
// topics through responses sent in pieces.
func TestFetchSplicedClients(t *testing.T) {
	tb := startBroker(t, "", nil)
	s := newFetchScenario(t, tb)
	before := fetchSplices.Load()
	cl := newClient(t, tb, kgo.ConsumeTopics("big", "mid", "empty"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeN(t, testCtx(t), cl, 120+5+40+3)
	for _, tv := range s.topics[:2] {
		for p := range tv.partitions {
			var vals []string
			for _, r := range got[int32(p)] {
				if r.Topic == tv.name {
					vals = append(vals, string(r.Value))
				}
			}
			if want := s.values[tv.name][p]; !slices.Equal(vals, want) && !(len(vals) == 0 && len(want) == 0) {
				t.Fatalf("%s-%d: consumed %d records, want %d", tv.name, p, len(vals), len(want))
			}
		}
	}
	if fetchSplices.Load() == before {
		t.Fatal("no response was sent in pieces")
	}

	// sarama asks for v5 to v12 (v12 here: flexible); its default fetch
	// size is 1 MiB per partition.
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.Fetch.Default = 1 << 20
	consumer, err := sarama.NewConsumer([]string{tb.addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	before = fetchSplices.Load()
	for _, tp := range []struct {
		topic string
		p     int32
	}{{"big", 0}, {"mid", 0}, {"big", 2}} {
		pc, err := consumer.ConsumePartition(tp.topic, tp.p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for off, want := range s.values[tp.topic][tp.p] {
			select {
			case m := <-pc.Messages():
				if m.Offset != int64(off) || string(m.Value) != want {
					t.Fatalf("sarama %s-%d: offset %d %.20q, want %d %.20q", tp.topic, tp.p, m.Offset, m.Value, off, want)
				}
			case err := <-pc.Errors():
				t.Fatalf("sarama %s-%d: %v", tp.topic, tp.p, err)
			case <-time.After(20 * time.Second):
				t.Fatalf("sarama %s-%d: no record at offset %d", tp.topic, tp.p, off)
			}
		}
		pc.Close()
	}
	if fetchSplices.Load() == before {
		t.Fatal("no response to sarama was sent in pieces")
	}
}
