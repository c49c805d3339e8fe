package cluster

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

// Produce: v3-11
//
// Each partition's records must be exactly one RecordBatch (magic 2, as
// Kafka requires from v3). The batch is validated (length, CRC-32C,
// max.message.bytes), checked against its idempotent producer's sequence
// numbers, and appended as sent; LogAppendTime topics have its timestamp
// set by the broker. acks 0 sends no response; acks 1 and -1 (all) answer
// once the batch is in the log: with one replica the leader is the whole
// in-sync set. Transactions (KIP-98 transactional batches) are refused,
// and so are appends to an internal topic (__consumer_offsets:
// INVALID_TOPIC_EXCEPTION), which only the broker writes, as in Kafka.
//
// Version notes: v5 LogStartOffset, v8 per-record errors and ErrorMessage,
// v9 flexible.

func init() { register(0, 3, 11, handleProduce) }

func handleProduce(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	now := time.Now()
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			res := b.producePartition(req, rt.Topic, &rp, now)
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.baseOffset, res.logAppendTime, res.logStart
			if res.err != nil {
				sp.ErrorCode = res.err.Code
				if res.msg != "" {
					sp.ErrorMessage = &res.msg
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		return nil, nil
	}
	return resp, nil
}

func (b *Broker) producePartition(req *kmsg.ProduceRequest, topic string, rp *kmsg.ProduceRequestTopicPartition, now time.Time) produceResult {
	res := produceResult{baseOffset: -1, logAppendTime: -1, logStart: -1}
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		res.err = kerr.InvalidRequiredAcks
		return res
	}
	p, ok := b.topics.partition(topic, rp.Partition)
	if !ok {
		res.err = kerr.UnknownTopicOrPartition
		return res
	}
	if isInternalTopic(topic) { // as Kafka: only the broker writes there
		res.err, res.msg = kerr.InvalidTopicException, "cannot append to internal topic "+topic
		return res
	}
	it := rlog.NewBatchIter(rp.Records)
	_, batch, ok := it.Next()
	if !ok || it.Pos() != len(rp.Records) {
		res.err, res.msg = kerr.CorruptMessage, "records must be exactly one whole record batch"
		if ok {
			res.err, res.msg = kerr.InvalidRecord, "produce requests must carry exactly one record batch per partition"
		}
		if it.Err() != nil {
			res.msg = it.Err().Error()
		}
		return res
	}
	return p.produce(batch, now)
}
