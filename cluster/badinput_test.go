package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

// The "bad input" list, against a real broker on loopback:
// malformed frames over raw TCP, refused produce requests with kmsg and
// franz-go. In every case a bystander — another franz-go client producing
// all along — goes on, and every record it was acknowledged stays stored.

// closeWithin bounds how long the broker may take to close a connection
// that broke the protocol. Generous: closing takes microseconds.
const closeWithin = 2 * time.Second

// claimAllocMax bounds what the broker may allocate for a frame whose
// size prefix claims 100 MiB that never arrive.
const claimAllocMax = 32 << 20

func TestOversizedFrameClosesOnlyThatConnection(t *testing.T) {
	const limit = 64 << 10
	tb := startBroker(t, "", func(c *Config) { c.SocketRequestMaxBytes = limit })
	by := startBystander(t, tb, "bystander")
	p := createTopic(t, tb, "big", 1, nil)[0]

	// At the limit: served.
	c := rawDial(t, tb)
	rawWrite(t, c, produceFrameOfSize(t, "big", limit, 1))
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 7
	readResponse(t, c, 1, resp)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("a frame of exactly socket.request.max.bytes: %v", kerr.ErrorForCode(code))
	}
	if p.log.EndOffset() != 1 {
		t.Fatalf("log end %d after a produce at the limit, want 1", p.log.EndOffset())
	}
	before := snapshotLog(t, p)

	t.Run("one byte over", func(t *testing.T) {
		c := rawDial(t, tb)
		frame := produceFrameOfSize(t, "big", limit+1, 2)
		go func() { c.Write(frame) }() // may fail once the broker closes: not checked
		expectClosed(t, c, closeWithin)
		by.progress(t, 5)
	})
	t.Run("size prefix alone", func(t *testing.T) {
		c := rawDial(t, tb)
		rawWrite(t, c, sizePrefix(limit+1))
		expectClosed(t, c, closeWithin) // the body is never sent: no waiting for it
		by.progress(t, 5)
	})
	t.Run("negative size", func(t *testing.T) {
		c := rawDial(t, tb)
		rawWrite(t, c, sizePrefix(1<<31))
		expectClosed(t, c, closeWithin)
		by.progress(t, 5)
	})
	if after := snapshotLog(t, p); !after.equal(before) {
		t.Fatalf("refused frames changed the log: %v, was %v", after, before)
	}
	by.finish(t)
}

// TestFrameSizeClaimsAtDefaultLimit sends size prefixes alone at the real
// default socket.request.max.bytes: memory follows the bytes that arrive,
// not the size claimed, so a thousand such connections cannot exhaust it.
func TestFrameSizeClaimsAtDefaultLimit(t *testing.T) {
	tb := startBroker(t, "", nil)
	limit := tb.cfg.SocketRequestMaxBytes
	if limit != 100<<20 {
		t.Fatalf("default socket.request.max.bytes is %d, want 100 MiB", limit)
	}
	by := startBystander(t, tb, "bystander")

	t.Run("over the limit", func(t *testing.T) {
		c := rawDial(t, tb)
		var took time.Duration
		alloc := allocatedDuring(func() {
			rawWrite(t, c, sizePrefix(uint32(limit)+1))
			took = expectClosed(t, c, closeWithin)
		})
		t.Logf("closed after %v; %d KiB allocated meanwhile", took, alloc>>10)
		if alloc > claimAllocMax {
			t.Fatalf("%d MiB allocated for a frame refused by its size", alloc>>20)
		}
		by.progress(t, 5)
	})
	t.Run("at the limit, body cut short", func(t *testing.T) {
		c := rawDial(t, tb)
		alloc := allocatedDuring(func() {
			rawWrite(t, c, append(sizePrefix(uint32(limit)), make([]byte, 1<<10)...))
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c, 5*time.Second) // the truncated frame ends it
		})
		t.Logf("%d KiB allocated for a frame claiming %d MiB, 1 KiB sent", alloc>>10, limit>>20)
		if alloc > claimAllocMax {
			t.Fatalf("%d MiB allocated for 1 KiB received", alloc>>20)
		}
		by.progress(t, 5)
	})
	by.finish(t)
}

// TestReadFrameGrowsWithTheBody is the unit form of the property above.
func TestReadFrameGrowsWithTheBody(t *testing.T) {
	const limit = 100 << 20
	for _, sent := range []int{0, 100, 1 << 20} {
		in := append(sizePrefix(limit), make([]byte, sent)...)
		var err error
		alloc := allocatedDuring(func() { _, err = readFrame(bytes.NewReader(in), limit, nil) })
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("sent %d of %d: %v, want io.ErrUnexpectedEOF", sent, limit, err)
		}
		if alloc > uint64(8*sent+256<<10) {
			t.Fatalf("sent %d bytes of a %d-byte frame: %d bytes allocated", sent, limit, alloc)
		}
	}
	// A whole frame still reads back exactly, however its bytes arrive.
	for _, n := range []int{8, 100 << 10, 3 << 20} {
		body := bytes.Repeat([]byte("0123456789"), n/10+1)[:n]
		in := append(sizePrefix(uint32(n)), body...)
		readers := []io.Reader{bytes.NewReader(in), iotest.HalfReader(bytes.NewReader(in))}
		if n <= 100<<10 {
			readers = append(readers, iotest.OneByteReader(bytes.NewReader(in)))
		}
		for _, r := range readers {
			frame, err := readFrame(r, limit, nil)
			if err != nil || !bytes.Equal(frame, body) {
				t.Fatalf("read a %d-byte frame through %T: %d bytes, %v", n, r, len(frame), err)
			}
		}
	}
}

func TestMalformedRequestsCloseOnlyThatConnection(t *testing.T) {
	tb := startBroker(t, "", nil)
	by := startBystander(t, tb, "bystander")
	meta := requestFrame(kmsg.NewPtrMetadataRequest(), 7)
	cases := []struct {
		name       string
		send       []byte
		closeWrite bool // then half-close: the broker sees EOF
	}{
		{"http request", []byte("GET / HTTP/1.1\r\nHost: runnel\r\n\r\n"), false},
		{"tls client hello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, false},
		{"zero size", sizePrefix(0), false},
		{"frame shorter than a header", append(sizePrefix(4), 0, 18, 0, 0), false},
		{"header shorter than its fields", append(sizePrefix(9), 0, 18, 0, 0, 0, 0, 0, 1, 0), false},
		{"client id overruns the frame", append(sizePrefix(14), 0, 18, 0, 0, 0, 0, 0, 1, 1, 0, 'a', 'b', 'c', 'd'), false},
		{"negative client id length", append(sizePrefix(12), 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xf0, 0, 0), false},
		{"garbage frame", append(sizePrefix(16), bytes.Repeat([]byte{0xff}, 16)...), false},
		{"truncated, then client closes", meta[:len(meta)-3], true},
		{"size prefix only, then client closes", sizePrefix(100), true},
		{"unknown api key", rawFrame(9999, 0, 1, nil), false},
		{"negative api key", rawFrame(-1, 0, 1, nil), false},
		{"metadata above its max version", rawFrame(3, apis[3].max+1, 1, nil), false},
		{"produce below its min version", rawFrame(0, apis[0].min-1, 1, nil), false},
		{"produce with a garbage body", rawFrame(0, 7, 1, bytes.Repeat([]byte{0x7f}, 40)), false},
		{"metadata with a truncated body", rawFrame(3, 4, 1, []byte{0, 0, 0, 5, 0, 1}), false},
		{"flexible header tags overrun", rawFrame(3, 12, 1, []byte{3, 0, 5}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := by.acked.Load()
			c := rawDial(t, tb)
			rawWrite(t, c, tc.send)
			if tc.closeWrite {
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			expectClosed(t, c, closeWithin)
			by.progress(t, 3)
			if by.acked.Load() <= before {
				t.Fatal("bystander made no progress")
			}
		})
	}

	t.Run("truncated, then client stays silent", func(t *testing.T) {
		c := rawDial(t, tb)
		rawWrite(t, c, meta[:len(meta)/2])
		// Kafka waits for the rest too (until connections.max.idle.ms);
		// what matters is that nobody else waits with it.
		by.progress(t, 20)
		other := rawDial(t, tb)
		apiVersions(t, other, 3)
		expectOpen(t, c, 200*time.Millisecond)
	})

	t.Run("api versions at an unsupported version", func(t *testing.T) {
		c := rawDial(t, tb)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 4
		req.ClientSoftwareName, req.ClientSoftwareVersion = "runnel-test", "99"
		frame := requestFrame(req, 42)
		binary.BigEndian.PutUint16(frame[6:], 99) // as a client from the future sends it
		rawWrite(t, c, frame)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		readResponse(t, c, 42, resp)
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("error %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(resp.ErrorCode))
		}
		if len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != 18 ||
			resp.ApiKeys[0].MinVersion != apis[18].min || resp.ApiKeys[0].MaxVersion != apis[18].max {
			t.Fatalf("api keys %+v, want only ApiVersions %d-%d", resp.ApiKeys, apis[18].min, apis[18].max)
		}
		// As in Kafka (KIP-511), the client retries on the same connection.
		if keys := apiVersions(t, c, apis[18].max); len(keys) != len(apis) {
			t.Fatalf("retry listed %d apis, want %d", len(keys), len(apis))
		}
		by.progress(t, 3)
	})
	by.finish(t)
}

func TestProduceRejectsBadBatches(t *testing.T) {
	tb := startBroker(t, "", nil)
	by := startBystander(t, tb, "bystander")
	bad := createTopic(t, tb, "bad", 2, nil)
	small := createTopic(t, tb, "small", 1, map[string]string{"max.message.bytes": "1024"})
	cl := newClient(t, tb)
	ctx := testCtx(t)
	good := testBatch(t, []byte("good"))
	for i := range 3 { // produce before
		for _, part := range []int32{0, 1} {
			if code := produceRaw(ctx, t, cl, "bad", part, good); code != nil {
				t.Fatalf("good batch %d to bad-%d: %v", i, part, code)
			}
		}
	}

	undecodable := bytes.Clone(good)
	for i := rlog.BatchHeaderSize; i < len(undecodable); i++ {
		undecodable[i] = 0xff
	}
	fixCRC(undecodable)
	cases := []struct {
		name      string
		topic     string
		partition int32
		records   []byte
		want      *kerr.Error // nil: any error
	}{
		{"crc mismatch in the records", "bad", 0, flipBit(good, len(good)-1), kerr.CorruptMessage},
		{"crc field flipped", "bad", 0, flipBit(good, 17), kerr.CorruptMessage},
		{"record of 1.1 MiB", "bad", 0, testBatch(t, make([]byte, 1100<<10)), kerr.MessageTooLarge},
		{"over the topic's max.message.bytes", "small", 0, testBatch(t, make([]byte, 2<<10)), kerr.MessageTooLarge},
		{"unknown topic", "no-such-topic", 0, good, kerr.UnknownTopicOrPartition},
		{"unknown partition", "bad", 2, good, kerr.UnknownTopicOrPartition},
		{"negative partition", "bad", -1, good, kerr.UnknownTopicOrPartition},
		{"two batches", "bad", 1, append(bytes.Clone(good), good...), kerr.InvalidRecord},
		{"truncated by one byte", "bad", 0, good[:len(good)-1], kerr.CorruptMessage},
		{"truncated in the header", "bad", 0, good[:30], kerr.CorruptMessage},
		{"header only", "bad", 1, good[:rlog.BatchHeaderSize], kerr.CorruptMessage},
		{"one batch and trailing bytes", "bad", 0, append(bytes.Clone(good), 0, 0, 0, 0, 0), nil},
		{"no records", "bad", 0, nil, nil},
		{"magic 1", "bad", 0, setByte(good, 16, 1), nil},
		{"no records in the batch", "bad", 0, fixCRC(setByte(good, 60, 0)), nil},
		{"records undecodable under a valid crc", "bad", 1, undecodable, kerr.InvalidRecord},
		{"transactional", "bad", 0, fixCRC(setByte(good, 22, 0x10)), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := []logSnapshot{snapshotLog(t, bad[0]), snapshotLog(t, bad[1]), snapshotLog(t, small[0])}
			got := produceRaw(ctx, t, cl, tc.topic, tc.partition, tc.records)
			switch {
			case got == nil:
				t.Fatalf("accepted; want %v", tc.want)
			case tc.want != nil && got != tc.want:
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			after := []logSnapshot{snapshotLog(t, bad[0]), snapshotLog(t, bad[1]), snapshotLog(t, small[0])}
			for i := range before {
				if !after[i].equal(before[i]) {
					t.Fatalf("a refused batch changed log %d: %v, was %v", i, after[i], before[i])
				}
			}
			if _, ok := tb.topics.get("no-such-topic"); ok {
				t.Fatal("produce created an unknown topic")
			}
		})
	}

	t.Run("franz-go with a large batch limit", func(t *testing.T) {
		// franz-go refuses a record over ProducerBatchMaxBytes itself; set
		// it high so that the broker is the one to refuse.
		var hook produceWrites
		// Random bytes: a compressible record may well fit once compressed.
		pcl := newClient(t, tb, kgo.DefaultProduceTopic("bad"), kgo.ProducerBatchMaxBytes(4<<20),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.WithHooks(&hook))
		value := make([]byte, 1100<<10)
		rand.NewChaCha8([32]byte{1}).Read(value)
		before := snapshotLog(t, bad[0])
		err := pcl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr()
		if !errors.Is(err, kerr.MessageTooLarge) {
			t.Fatalf("produce 1.1 MiB: %v, want MESSAGE_TOO_LARGE", err)
		}
		if n := hook.bytes.Load(); n < 1100<<10 {
			t.Fatalf("client wrote %d bytes of produce requests: the broker never saw the record", n)
		}
		if after := snapshotLog(t, bad[0]); !after.equal(before) {
			t.Fatalf("log changed: %v, was %v", after, before)
		}
	})

	t.Run("one partition refused, the other stored", func(t *testing.T) {
		end0, end1 := bad[0].log.EndOffset(), bad[1].log.EndOffset()
		req := produceRequest("bad", 0, flipBit(good, len(good)-1))
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = 1, bytes.Clone(good)
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		ps := resp.Topics[0].Partitions
		if ps[0].ErrorCode != kerr.CorruptMessage.Code || ps[1].ErrorCode != 0 || ps[1].BaseOffset != end1 {
			t.Fatalf("responses %+v", ps)
		}
		if bad[0].log.EndOffset() != end0 || bad[1].log.EndOffset() != end1+1 {
			t.Fatalf("log ends %d, %d; want %d, %d", bad[0].log.EndOffset(), bad[1].log.EndOffset(), end0, end1+1)
		}
	})
	// After all that, the next good batch takes the next offset: refusals
	// consumed none.
	end := bad[0].log.EndOffset()
	resp, err := produceRequest("bad", 0, good).RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 || resp.Topics[0].Partitions[0].BaseOffset != end {
		t.Fatalf("good batch after the bad ones: %+v, %v; want offset %d", resp, err, end)
	}
	by.finish(t)
}

// --- raw connections ---

// rawDial opens a plain TCP connection to the broker, closed with the test.
func rawDial(t testing.TB, tb *testBroker) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tb.addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func rawWrite(t testing.TB, c net.Conn, b []byte) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write %d bytes: %v", len(b), err)
	}
}

// requestFrame encodes req, at its set version, as a whole request frame.
func requestFrame(req kmsg.Request, corr int32) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("runnel-test")).AppendRequest(nil, req, corr)
}

// rawFrame builds a frame by hand, a v1 request header (client id "raw")
// and body, for keys and versions kmsg cannot encode.
func rawFrame(key, version int16, corr int32, body []byte) []byte {
	be := binary.BigEndian
	b := make([]byte, 4, 4+13+len(body))
	b = be.AppendUint16(b, uint16(key))
	b = be.AppendUint16(b, uint16(version))
	b = be.AppendUint32(b, uint32(corr))
	b = be.AppendUint16(b, 3)
	b = append(b, "raw"...)
	b = append(b, body...)
	be.PutUint32(b, uint32(len(b)-4))
	return b
}

func sizePrefix(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// expectClosed checks that the broker closes c within d without answering,
// and returns how long that took.
func expectClosed(t testing.TB, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	var buf [64]byte
	n, err := c.Read(buf[:])
	took := time.Since(start)
	switch {
	case n > 0:
		t.Fatalf("broker answered (%x) instead of closing", buf[:n])
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("connection still open after %v", d)
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	default:
		t.Fatalf("read: %v; want the broker to close", err)
	}
	return took
}

// expectOpen checks that the broker neither answers nor closes c for d.
func expectOpen(t testing.TB, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	var buf [64]byte
	n, err := c.Read(buf[:])
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d bytes, %v; want the connection open and silent", n, err)
	}
	c.SetReadDeadline(time.Time{})
}

// readResponse reads the response frame answering corr into resp, whose
// version must be set.
func readResponse(t testing.TB, c net.Conn, corr int32, resp kmsg.Response) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 64<<20 {
		t.Fatalf("response size %d", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("read response: %v", err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	body = body[4:]
	if resp.IsFlexible() && resp.Key() != 18 { // ApiVersions' response header is always v0
		var err error
		if body, err = skipTaggedFields(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode %s v%d response: %v", kmsg.NameForKey(resp.Key()), resp.GetVersion(), err)
	}
}

// apiVersions asks for the broker's APIs over c and returns them; the
// answer must list exactly the registered ones.
func apiVersions(t testing.TB, c net.Conn, version int16) []kmsg.ApiVersionsResponseApiKey {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = version
	rawWrite(t, c, requestFrame(req, 77))
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	readResponse(t, c, 77, resp)
	if resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions v%d: %v", version, kerr.ErrorForCode(resp.ErrorCode))
	}
	for _, k := range resp.ApiKeys {
		if a, ok := apis[k.ApiKey]; !ok || advertisedMin(k.ApiKey) != k.MinVersion || a.max != k.MaxVersion {
			t.Fatalf("ApiVersions lists %s %d-%d", kmsg.NameForKey(k.ApiKey), k.MinVersion, k.MaxVersion)
		}
	}
	return resp.ApiKeys
}

// allocatedDuring returns the bytes the whole process allocated while fn ran.
func allocatedDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// --- produce requests and batches ---

// testBatch encodes one uncompressed batch, without a producer id, holding
// a record per value.
func testBatch(t testing.TB, values ...[]byte) []byte {
	t.Helper()
	recs := make([]rlog.Record, len(values))
	for i, v := range values {
		recs[i] = rlog.Record{OffsetDelta: int32(i), Value: v}
	}
	now := time.Now().UnixMilli()
	h := rlog.BatchHeader{LeaderEpoch: -1, BaseTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	b, err := rlog.AppendBatch(nil, h, recs, rlog.CompressionNone)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var testCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// fixCRC recomputes a batch's CRC-32C in place (it covers bytes 21 on).
func fixCRC(b []byte) []byte {
	if len(b) >= rlog.BatchHeaderSize {
		binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], testCastagnoli))
	}
	return b
}

func flipBit(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}

func setByte(b []byte, i int, v byte) []byte {
	b = bytes.Clone(b)
	b[i] = v
	return b
}

func produceRequest(topic string, partition int32, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// produceRaw sends one partition's records as they are and returns the
// partition's error, nil when stored.
func produceRaw(ctx context.Context, t testing.TB, cl *kgo.Client, topic string, partition int32, records []byte) *kerr.Error {
	t.Helper()
	resp, err := produceRequest(topic, partition, records).RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce request: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response %+v", resp)
	}
	rp := resp.Topics[0].Partitions[0]
	if rp.ErrorCode == 0 {
		return nil
	}
	e, _ := kerr.ErrorForCode(rp.ErrorCode).(*kerr.Error)
	if e == nil {
		t.Fatalf("unknown error code %d", rp.ErrorCode)
	}
	return e
}

// produceFrameOfSize returns a Produce v7 frame of one record whose size
// field (the frame less its prefix) is exactly size.
func produceFrameOfSize(t testing.TB, topic string, size int, corr int32) []byte {
	t.Helper()
	v := size - 200
	for range 8 {
		req := produceRequest(topic, 0, testBatch(t, bytes.Repeat([]byte{'x'}, v)))
		req.Version = 7
		f := requestFrame(req, corr)
		if len(f)-4 == size {
			return f
		}
		v += size - (len(f) - 4)
	}
	t.Fatalf("no produce frame of %d bytes", size)
	return nil
}

// produceWrites counts the bytes a franz-go client wrote in Produce requests.
type produceWrites struct{ bytes atomic.Int64 }

func (h *produceWrites) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, _ error) {
	if key == 0 {
		h.bytes.Add(int64(n))
	}
}

// --- topics and logs ---

func createTopic(t testing.TB, tb *testBroker, name string, n int32, cfgs map[string]string) []*partition {
	t.Helper()
	tp, err := tb.topics.create(name, n, cfgs, false)
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return tb.topics.view(tp).partitions
}

// logSnapshot is everything a reader can see of a partition log.
type logSnapshot struct {
	start, end, hw, size int64
	data                 []byte
}

func snapshotLog(t testing.TB, p *partition) logSnapshot {
	t.Helper()
	s := logSnapshot{start: p.log.StartOffset(), end: p.log.EndOffset(), hw: p.log.HighWatermark(), size: p.log.Size()}
	if s.end > s.start {
		var err error
		if s.data, err = p.log.ReadBatches(s.start, 1<<30, s.end); err != nil {
			t.Fatalf("read %s-%d: %v", p.topic, p.index, err)
		}
	}
	return s
}

func (s logSnapshot) equal(o logSnapshot) bool {
	return s.start == o.start && s.end == o.end && s.hw == o.hw && s.size == o.size && bytes.Equal(s.data, o.data)
}

func (s logSnapshot) String() string {
	return fmt.Sprintf("offsets [%d, %d) hw %d, %d bytes", s.start, s.end, s.hw, s.size)
}

// storedValues decodes a partition's whole log and returns its record
// values in offset order, checking that offsets run without gaps.
func storedValues(t testing.TB, p *partition) []string {
	t.Helper()
	var vals []string
	off, end := p.log.StartOffset(), p.log.EndOffset()
	for off < end {
		buf, err := p.log.ReadBatches(off, 8<<20, end)
		if err != nil {
			t.Fatalf("read %s-%d at %d: %v", p.topic, p.index, off, err)
		}
		it := rlog.NewBatchIter(buf)
		for h, b, ok := it.Next(); ok; h, b, ok = it.Next() {
			_, recs, err := rlog.DecodeRecords(b)
			if err != nil {
				t.Fatalf("%s-%d at %d: %v", p.topic, p.index, h.BaseOffset, err)
			}
			for _, r := range recs {
				if got := h.BaseOffset + int64(r.OffsetDelta); got != off {
					t.Fatalf("%s-%d: record at offset %d, want %d", p.topic, p.index, got, off)
				}
				vals = append(vals, string(r.Value))
				off++
			}
		}
		if it.Pos() == 0 {
			t.Fatalf("%s-%d: no whole batch at offset %d", p.topic, p.index, off)
		}
	}
	return vals
}

// --- the bystander ---

// bystander is an innocent franz-go client producing to a topic of its own
// all through a test, one record at a time with acks=all. Record i holds
// "b<i>" and must be stored at offset i.
type bystander struct {
	cl       *kgo.Client
	p        *partition
	acked    atomic.Int64
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	err      error // set before done closes
}

// startBystander produces a first few records (the "before"), then keeps
// producing in the background until finish.
func startBystander(t testing.TB, tb *testBroker, topic string) *bystander {
	t.Helper()
	by := &bystander{
		cl:   newClient(t, tb, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks())),
		p:    createTopic(t, tb, topic, 1, nil)[0],
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	ctx := testCtx(t)
	for range 10 {
		if err := by.produce(ctx); err != nil {
			t.Fatalf("bystander: %v", err)
		}
	}
	go by.run(ctx)
	t.Cleanup(func() { by.halt() })
	return by
}

func (by *bystander) produce(ctx context.Context) error {
	i := by.acked.Load()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res := by.cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "b%d", i)})
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("record %d: %w", i, err)
	}
	if off := res[0].Record.Offset; off != i {
		return fmt.Errorf("record %d acknowledged at offset %d", i, off)
	}
	by.acked.Add(1)
	return nil
}

func (by *bystander) run(ctx context.Context) {
	defer close(by.done)
	pace := time.NewTicker(2 * time.Millisecond)
	defer pace.Stop()
	for {
		select {
		case <-by.stop:
			return
		case <-pace.C:
		}
		if by.err = by.produce(ctx); by.err != nil {
			return
		}
	}
}

// progress waits until n more records are acknowledged.
func (by *bystander) progress(t testing.TB, n int64) {
	t.Helper()
	target := by.acked.Load() + n
	deadline := time.Now().Add(10 * time.Second)
	for by.acked.Load() < target {
		select {
		case <-by.done:
			t.Fatalf("bystander stopped: %v", by.err)
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("bystander stalled at %d records, waited for %d", by.acked.Load(), target)
		}
	}
}

func (by *bystander) halt() bool {
	by.stopOnce.Do(func() { close(by.stop) })
	select {
	case <-by.done:
		return true
	case <-time.After(20 * time.Second):
		return false
	}
}

// finish stops the background producer, produces a few more records (the
// "after") and checks that the log holds every acknowledged record.
func (by *bystander) finish(t testing.TB) {
	t.Helper()
	if !by.halt() {
		t.Fatal("bystander does not stop")
	}
	if by.err != nil {
		t.Fatalf("bystander: %v", by.err)
	}
	ctx := testCtx(t)
	for range 10 {
		if err := by.produce(ctx); err != nil {
			t.Fatalf("bystander after: %v", err)
		}
	}
	vals := storedValues(t, by.p)
	if int64(len(vals)) != by.acked.Load() {
		t.Fatalf("bystander's log holds %d records, %d were acknowledged", len(vals), by.acked.Load())
	}
	for i, v := range vals {
		if want := fmt.Sprintf("b%d", i); v != want {
			t.Fatalf("bystander's offset %d holds %q, want %q", i, v, want)
		}
	}
	t.Logf("bystander: %d records acknowledged and stored", len(vals))
}
