package cluster

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete: v0 (KIP-496)
//
// Deletes a group's committed offsets of some partitions, as Kafka's
// GroupCoordinator.handleDeleteOffsets does:
//
//   - an empty group id answers INVALID_GROUP_ID, a group with neither
//     members nor offsets GROUP_ID_NOT_FOUND (for the whole request);
//   - a partition of a topic that does not exist answers
//     UNKNOWN_TOPIC_OR_PARTITION;
//   - a group with no members (or only simple commits) may lose any
//     offset;
//   - a consumer group with members keeps the offsets of the topics its
//     members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC) and may lose the
//     others; the subscriptions are read from the group's latest metadata
//     record, and while there is none every topic counts as subscribed;
//   - a group with members of another protocol type answers
//     NON_EMPTY_GROUP.
//
// A partition without an offset answers no error: it has none after.

func init() { register(47, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	_, empty, known := b.coord.groupEmptySince(req.Group)
	info := b.offsets.info(req.Group)
	active := known && !empty
	switch {
	case !known && !info.exists:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp, nil
	case active && info.meta != nil && info.meta.protocolType != "consumer":
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp, nil
	}
	subscribed := func(topic string) bool {
		if !active {
			return false
		}
		return info.meta == nil || info.meta.topics == nil || info.meta.topics[topic]
	}
	var gone []topicPartition
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			switch _, ok := b.topics.partition(rt.Topic, rp.Partition); {
			case !ok:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case subscribed(rt.Topic):
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				gone = append(gone, topicPartition{rt.Topic, rp.Partition})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(gone) == 0 {
		return resp, nil
	}
	if err := b.offsets.deletePartitions(req.Group, gone, time.Now().UnixMilli()); err != nil {
		code := commitErrorCode(err)
		b.logger.Error("cluster: offset delete not stored", "group", req.Group, "err", err)
		for ti := range resp.Topics {
			for pi := range resp.Topics[ti].Partitions {
				if sp := &resp.Topics[ti].Partitions[pi]; sp.ErrorCode == 0 {
					sp.ErrorCode = code.Code
				}
			}
		}
	}
	return resp, nil
}
