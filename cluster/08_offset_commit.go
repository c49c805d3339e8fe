package cluster

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit: v0-8
//
// Stores a group's offsets in __consumer_offsets (offsets.go), all of one
// request as one batch, answered once the batch is in the log. Each
// partition is checked as Kafka checks it, in this order: a topic or
// partition that does not exist answers UNKNOWN_TOPIC_OR_PARTITION; the
// group's member and generation are the membership half's to judge
// (checkCommit: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
// REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID for every partition); a
// metadata string over offset.metadata.max.bytes answers
// OFFSET_METADATA_TOO_LARGE. Only the partitions that pass are stored; the
// others are left as they were. A batch too large for the topic answers
// INVALID_COMMIT_OFFSET_SIZE, a storage failure NOT_COORDINATOR (so the
// client retries), as Kafka does.
//
// Version notes: v0 has no generation or member (a simple commit); v1 a
// per-partition commit timestamp (-1: now); v2-4 RetentionTimeMillis, an
// expiry of the commit's own (-1: the broker's retention); v3
// ThrottleMillis; v6 LeaderEpoch (KIP-320); v7 InstanceID (KIP-345); v8
// flexible.

func init() { register(8, 0, 8, handleOffsetCommit) }

func handleOffsetCommit(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	nowMs := time.Now().UnixMilli()
	groupErr := b.coord.checkCommit(req.Group, req.MemberID, req.InstanceID, req.Generation)

	type pos struct{ topic, partition int }
	var commits []offsetCommit
	var at []pos // each commit's place in resp
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			if code := b.checkCommitPartition(rt.Topic, rp, groupErr); code != nil {
				sp.ErrorCode = code.Code
			} else {
				commits = append(commits, offsetCommit{tp: topicPartition{rt.Topic, rp.Partition},
					value: commitValue(req, rp, nowMs)})
				at = append(at, pos{ti, pi})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(commits) == 0 {
		return resp, nil
	}
	if err := b.offsets.commit(req.Group, commits, nowMs); err != nil {
		code := commitErrorCode(err)
		b.logger.Error("cluster: offset commit not stored", "group", req.Group, "partitions", len(commits),
			"answer", code.Message, "err", err)
		for _, p := range at {
			resp.Topics[p.topic].Partitions[p.partition].ErrorCode = code.Code
		}
	}
	return resp, nil
}

// checkCommitPartition returns the error one partition of a commit
// answers, or nil to store it.
func (b *Broker) checkCommitPartition(topic string, rp *kmsg.OffsetCommitRequestTopicPartition, groupErr *kerr.Error) *kerr.Error {
	if _, ok := b.topics.partition(topic, rp.Partition); !ok {
		return kerr.UnknownTopicOrPartition
	}
	if groupErr != nil {
		return groupErr
	}
	if rp.Metadata != nil && len(*rp.Metadata) > b.cfg.OffsetMetadataMaxBytes {
		return kerr.OffsetMetadataTooLarge
	}
	return nil
}

// commitValue is what one partition of a commit stores.
func commitValue(req *kmsg.OffsetCommitRequest, rp *kmsg.OffsetCommitRequestTopicPartition, nowMs int64) committedOffset {
	c := committedOffset{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, commitMs: nowMs, expireMs: -1}
	if rp.Metadata != nil {
		c.metadata = *rp.Metadata
	}
	if req.Version == 1 && rp.Timestamp != -1 {
		c.commitMs = rp.Timestamp
	}
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
		c.expireMs = satAdd(nowMs, req.RetentionTimeMillis)
	}
	if c.leaderEpoch < 0 {
		c.leaderEpoch = -1
	}
	return c
}
