package cluster

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

// BenchmarkProduceRequest is the broker's work for one produce request as
// brokerbench's 100-byte producers send them, without the socket: decode
// the frame (v9), validate each partition's batch, append it, encode the
// response. 8 partitions of 1,000 records each, about 900 KB per request;
// the log writes to the page cache (no fsync policy).
func BenchmarkProduceRequest(b *testing.B) {
	tb := startBroker(b, "", nil)
	if _, err := tb.topics.create("bench", 8, nil, false); err != nil {
		b.Fatal(err)
	}
	records := make([]rlog.Record, 1000)
	for i := range records {
		records[i] = rlog.Record{OffsetDelta: int32(i), Value: make([]byte, 100)}
	}
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = -1
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "bench"
	for p := range int32(8) {
		batch, err := rlog.AppendBatch(nil, rlog.BatchHeader{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, records, rlog.CompressionNone)
		if err != nil {
			b.Fatal(err)
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batch
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	// The frame as readFrame returns it: the request header (v2: client
	// id, no tagged fields), then the body.
	frame := binary.BigEndian.AppendUint16(nil, 0)
	frame = binary.BigEndian.AppendUint16(frame, 9)
	frame = binary.BigEndian.AppendUint32(frame, 1)
	frame = binary.BigEndian.AppendUint16(frame, uint16(len("bench")))
	frame = append(frame, "bench"...)
	frame = append(frame, 0)
	frame = req.AppendTo(frame)

	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		h, kreq, err := parseRequest(frame)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := handleProduce(tb.Broker, nil, h, kreq)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range resp.(*kmsg.ProduceResponse).Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					b.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
				}
			}
		}
		resp.SetVersion(h.version)
		out = appendResponse(out[:0], h.correlationID, resp)
	}
}
