package cluster

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch: v2-4
//
// For each partition, the largest leader epoch this log knows that is not
// above the requested one, and the offset where that epoch ended: where the
// next epoch started, or the log end offset for the current epoch (KIP-101,
// KIP-279). An epoch the log cannot place answers -1 and -1 with no error,
// as Kafka does. A consumer uses it to detect that its log position was
// truncated away after a leader change (KIP-320); a follower, to find where
// its log diverged from the leader's.
//
// CurrentLeaderEpoch fencing applies (KIP-320): see checkLeaderEpoch.
//
// Version notes: v2 CurrentLeaderEpoch (KIP-320), v3 ReplicaID, v4
// flexible. v0 and v1 are gone since Kafka 4 (KIP-896).

func init() { register(23, 2, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			st.Partitions = append(st.Partitions, b.endOffsetForEpoch(rt.Topic, &rp))
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) endOffsetForEpoch(topic string, rp *kmsg.OffsetForLeaderEpochRequestTopicPartition) kmsg.OffsetForLeaderEpochResponseTopicPartition {
	sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
	sp.Partition = rp.Partition
	p, ok := b.topics.partition(topic, rp.Partition)
	if !ok {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return sp
	}
	if e := p.checkLeaderEpoch(rp.CurrentLeaderEpoch); e != nil {
		sp.ErrorCode = e.Code
		return sp
	}
	sp.LeaderEpoch, sp.EndOffset = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
	return sp
}

// checkLeaderEpoch fences a request by the CurrentLeaderEpoch it carries
// (KIP-320), for Fetch, ListOffsets and OffsetForLeaderEpoch: a client
// that knows a newer epoch than ours is ahead of this broker
// (UNKNOWN_LEADER_EPOCH, retriable: it waits for us), one that knows an
// older epoch has stale metadata (FENCED_LEADER_EPOCH: it refreshes). A
// negative epoch (-1) asks for no check.
func (p *partition) checkLeaderEpoch(current int32) *kerr.Error {
	switch {
	case current < 0:
		return nil
	case current > p.leaderEpoch:
		return kerr.UnknownLeaderEpoch
	case current < p.leaderEpoch:
		return kerr.FencedLeaderEpoch
	}
	return nil
}

// epochAt is the leader epoch that wrote offset off, from the log's epoch
// checkpoint, or -1 when no epoch covers it.
func (p *partition) epochAt(off int64) int32 {
	epoch := int32(-1)
	for _, e := range p.log.LeaderEpochs() {
		if e.StartOffset > off {
			break
		}
		epoch = e.Epoch
	}
	return epoch
}
