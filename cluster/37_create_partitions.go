package cluster

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions: v0-3
//
// Grows a topic to Count partitions (KIP-195). A count that does not grow
// the topic answers INVALID_PARTITIONS, an unknown topic
// UNKNOWN_TOPIC_OR_PARTITION, a topic named twice in one request
// INVALID_REQUEST, as does __consumer_offsets (its groups would move to
// partitions that do not hold their records). An explicit assignment must
// give each new partition this node alone (INVALID_REPLICA_ASSIGNMENT
// otherwise). ValidateOnly checks and changes nothing.
//
// Version notes: v1 ThrottleMillis; v2 flexible; v3 no change.

func init() { register(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var code *kerr.Error
		var msg string
		if seen[rt.Topic] > 1 {
			code, msg = kerr.InvalidRequest, "topic named more than once in one request"
		} else {
			code, msg = b.createPartitions(rt, req.ValidateOnly)
		}
		if code != nil {
			st.ErrorCode, st.ErrorMessage = code.Code, &msg
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) createPartitions(rt *kmsg.CreatePartitionsRequestTopic, validateOnly bool) (*kerr.Error, string) {
	if isInternalTopic(rt.Topic) { // groups would move to partitions that do not hold their offsets
		return kerr.InvalidRequest, rt.Topic + " is internal: its partition count is fixed"
	}
	if rt.Assignment != nil {
		t, ok := b.topics.get(rt.Topic)
		if !ok {
			return kerr.UnknownTopicOrPartition, "no topic named " + rt.Topic
		}
		if have := int32(len(b.topics.view(t).partitions)); int(rt.Count-have) != len(rt.Assignment) {
			return kerr.InvalidReplicaAssignment, fmt.Sprintf("%d assignments for %d new partitions", len(rt.Assignment), rt.Count-have)
		}
		for i, a := range rt.Assignment {
			if err := b.checkReplicas(a.Replicas); err != nil {
				return kerr.InvalidReplicaAssignment, fmt.Sprintf("new partition %d: %v", i, err)
			}
		}
	}
	if err := b.topics.addPartitions(rt.Topic, rt.Count, validateOnly); err != nil {
		return createErrorCode(err), clientMessage(err)
	}
	return nil, ""
}
