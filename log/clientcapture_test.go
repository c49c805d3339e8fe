package log

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// captureServer is a test fixture, not a broker: it answers a Kafka
// client's ApiVersions, Metadata and Produce requests just enough for a
// real producer (franz-go) to send its batches, and keeps every produced
// RecordBatch exactly as the client's encoder wrote it. Tests feed those
// bytes to the log, so the log is shown to store what real clients send.
type captureServer struct {
	ln net.Listener
	mu struct {
		sync.Mutex
		batches map[string][][]byte // topic → batches in arrival order
	}
}

func newCaptureServer(t testing.TB) *captureServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &captureServer{ln: ln}
	s.mu.batches = map[string][][]byte{}
	go s.serve()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *captureServer) addr() string { return s.ln.Addr().String() }

func (s *captureServer) captured(topic string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.mu.batches[topic]...)
}

func (s *captureServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.handle(c)
	}
}

func (s *captureServer) handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		var size int32
		if err := binary.Read(r, binary.BigEndian, &size); err != nil || size < 8 || size > 64<<20 {
			return
		}
		frame := make([]byte, size)
		if _, err := io.ReadFull(r, frame); err != nil {
			return
		}
		out, err := s.answer(frame)
		if err != nil {
			return
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// answer decodes one request frame and returns the whole response frame.
func (s *captureServer) answer(frame []byte) ([]byte, error) {
	key := int16(binary.BigEndian.Uint16(frame[0:]))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	corr := frame[4:8]
	req := kmsg.RequestForKey(key)
	if req == nil {
		return nil, fmt.Errorf("unknown key %d", key)
	}
	req.SetVersion(version)
	body := frame[8:]
	if len(body) < 2 {
		return nil, errors.New("short header")
	}
	idLen := int(int16(binary.BigEndian.Uint16(body)))
	body = body[2+max(idLen, 0):]
	if req.IsFlexible() {
		body = body[1:] // the header's tagged fields: none
	}
	if err := req.ReadFrom(body); err != nil {
		return nil, err
	}
	resp := s.respond(req)
	resp.SetVersion(version)
	out := append([]byte{0, 0, 0, 0}, corr...)
	if resp.IsFlexible() && key != 18 { // ApiVersions answers with header v0
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out, nil
}

func (s *captureServer) respond(req kmsg.Request) kmsg.Response {
	switch req := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		for _, k := range []kmsg.Request{kmsg.NewPtrProduceRequest(), kmsg.NewPtrMetadataRequest(), req} {
			v := kmsg.NewApiVersionsResponseApiKey()
			v.ApiKey, v.MinVersion, v.MaxVersion = k.Key(), 0, min(k.MaxVersion(), maxCaptureVersion(k.Key()))
			resp.ApiKeys = append(resp.ApiKeys, v)
		}
		return resp
	case *kmsg.MetadataRequest:
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		host, port, _ := net.SplitHostPort(s.addr())
		p, _ := strconv.Atoi(port)
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = 0, host, int32(p)
		resp.Brokers = append(resp.Brokers, b)
		for i, rt := range req.Topics {
			t := kmsg.NewMetadataResponseTopic()
			t.Topic = rt.Topic
			t.TopicID[0] = byte(i + 1)
			p := kmsg.NewMetadataResponseTopicPartition()
			p.Leader, p.Replicas, p.ISR = 0, []int32{0}, []int32{0}
			t.Partitions = append(t.Partitions, p)
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	case *kmsg.ProduceRequest:
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, rt := range req.Topics {
			t := kmsg.NewProduceResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewProduceResponseTopicPartition()
				p.Partition = rp.Partition
				p.BaseOffset = int64(len(s.mu.batches[rt.Topic]))
				it := NewBatchIter(rp.Records)
				for {
					_, b, ok := it.Next()
					if !ok {
						break
					}
					s.mu.batches[rt.Topic] = append(s.mu.batches[rt.Topic], append([]byte(nil), b...))
				}
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	}
	return req.ResponseKind()
}

// maxCaptureVersion keeps the fixture to versions whose topic naming it
// handles (Metadata and Produce by topic name, before topic IDs).
func maxCaptureVersion(key int16) int16 {
	switch key {
	case 0:
		return 11
	case 3:
		return 12
	}
	return 3
}

// realClientBatches produces recs to topic through franz-go with codec and
// returns the RecordBatches its encoder wrote.
func realClientBatches(t testing.TB, srv *captureServer, topic string, codec kgo.CompressionCodec, recs []*kgo.Record) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(srv.addr()),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(codec),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerLinger(20*time.Millisecond),
		kgo.ProducerBatchMaxBytes(16<<10),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to capture server: %v", err)
	}
	return srv.captured(topic)
}

// clientCodecs pairs each franz-go compression codec with ours.
var clientCodecs = []struct {
	name  string
	codec kgo.CompressionCodec
	want  Compression
}{
	{"none", kgo.NoCompression(), CompressionNone},
	{"gzip", kgo.GzipCompression(), CompressionGzip},
	{"snappy", kgo.SnappyCompression(), CompressionSnappy},
	{"lz4", kgo.Lz4Compression(), CompressionLZ4},
	{"zstd", kgo.ZstdCompression(), CompressionZstd},
}
