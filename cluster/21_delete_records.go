package cluster

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

// DeleteRecords: v0-2
//
// Moves each partition's log start offset up to the requested offset
// (KIP-107): records below it can no longer be read or listed, and
// segments wholly below it are deleted. Offset -1 means the high
// watermark; an offset above the high watermark, or another negative one,
// is OFFSET_OUT_OF_RANGE; one at or below the log start changes nothing.
// The answer is the partition's low watermark: its log start offset
// afterwards. With one replica the change is complete when the log has
// made it, so TimeoutMillis is not needed.
//
// Version notes: v1 is v0 (throttling after the response, KIP-219), v2
// flexible.

func init() { register(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			st.Partitions = append(st.Partitions, b.deleteRecords(rt.Topic, rp))
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) deleteRecords(topic string, rp kmsg.DeleteRecordsRequestTopicPartition) kmsg.DeleteRecordsResponseTopicPartition {
	sp := kmsg.NewDeleteRecordsResponseTopicPartition()
	sp.Partition, sp.LowWatermark = rp.Partition, -1
	p, ok := b.topics.partition(topic, rp.Partition)
	if !ok {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return sp
	}
	off := rp.Offset
	if off == -1 {
		off = p.log.HighWatermark()
	}
	if off < 0 {
		sp.ErrorCode = kerr.OffsetOutOfRange.Code
		return sp
	}
	// The log checks the high watermark again under its own lock.
	before := p.log.StartOffset()
	err := p.log.DeleteRecords(off)
	switch {
	case errors.Is(err, rlog.ErrOffsetOutOfRange):
		sp.ErrorCode = kerr.OffsetOutOfRange.Code
		return sp
	case errors.Is(err, rlog.ErrClosed):
		sp.ErrorCode = kerr.NotLeaderForPartition.Code
		return sp
	case err != nil:
		b.logger.Error("cluster: delete records", "topic", topic, "partition", rp.Partition, "offset", off, "err", err)
		sp.ErrorCode = kerr.KafkaStorageError.Code
		return sp
	}
	sp.LowWatermark = p.log.StartOffset()
	if sp.LowWatermark != before {
		b.logger.Info("records deleted", "topic", topic, "partition", rp.Partition, "log_start", sp.LowWatermark)
	}
	return sp
}
