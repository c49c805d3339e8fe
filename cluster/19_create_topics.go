package cluster

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics: v0-7
//
// Each topic is checked on its own: a legal name (INVALID_TOPIC_EXCEPTION),
// not already there (TOPIC_ALREADY_EXISTS), a positive partition count
// (INVALID_PARTITIONS), a replication factor this single node can hold
// (INVALID_REPLICATION_FACTOR), known configs with valid values
// (INVALID_CONFIG). A topic named twice in one request is refused
// (INVALID_REQUEST), as Kafka does. A manual replica assignment is
// accepted when it is what we would do anyway: partitions 0..n-1, each on
// this node alone (INVALID_REPLICA_ASSIGNMENT otherwise); NumPartitions
// and ReplicationFactor must then be -1 (INVALID_REQUEST). ValidateOnly
// checks everything and creates nothing. The Timeout is not needed: a
// topic exists when the response is sent.
//
// Version notes: v1 ValidateOnly and ErrorMessage; v4 NumPartitions and
// ReplicationFactor -1 mean the broker's num.partitions and
// default.replication.factor (KIP-464); v5 flexible, and the response
// carries the partition count, replication factor and configs (KIP-525);
// v7 TopicID (KIP-516).

func init() { register(19, 0, 7, handleCreateTopics) }

func handleCreateTopics(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		var st kmsg.CreateTopicsResponseTopic
		if seen[rt.Topic] > 1 {
			st = createTopicError(rt.Topic, kerr.InvalidRequest, "topic named more than once in one request")
		} else {
			st = b.createTopic(rt, req.ValidateOnly)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func createTopicError(topic string, code *kerr.Error, msg string) kmsg.CreateTopicsResponseTopic {
	st := kmsg.NewCreateTopicsResponseTopic()
	st.Topic = topic
	st.ErrorCode = code.Code
	st.ErrorMessage = &msg
	return st
}

// clientMessage is an error as a response's ErrorMessage tells it: without
// our package prefix, which means nothing to a client.
func clientMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "cluster: ")
}

// createTopic checks and creates one topic and describes the result.
func (b *Broker) createTopic(rt *kmsg.CreateTopicsRequestTopic, validateOnly bool) kmsg.CreateTopicsResponseTopic {
	n, code, msg := b.createPartitionCount(rt)
	if code != nil {
		return createTopicError(rt.Topic, code, msg)
	}
	cfgs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if c.Value == nil {
			return createTopicError(rt.Topic, kerr.InvalidConfig, fmt.Sprintf("config %s has a null value", c.Name))
		}
		if _, dup := cfgs[c.Name]; dup {
			return createTopicError(rt.Topic, kerr.InvalidRequest, fmt.Sprintf("config %s given more than once", c.Name))
		}
		cfgs[c.Name] = *c.Value
	}
	t, err := b.topics.create(rt.Topic, n, cfgs, validateOnly)
	if err != nil {
		return createTopicError(rt.Topic, createErrorCode(err), clientMessage(err))
	}
	st := kmsg.NewCreateTopicsResponseTopic()
	st.Topic = rt.Topic
	st.NumPartitions, st.ReplicationFactor = n, 1
	if t != nil {
		st.TopicID = t.id
	}
	for _, dc := range b.describeTopicConfigs(cfgs, false) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = dc.Name, dc.Value, dc.ReadOnly, int8(dc.Source), dc.IsSensitive
		st.Configs = append(st.Configs, c)
	}
	return st
}

// createPartitionCount works out how many partitions a new topic gets from
// its partition count, replication factor and replica assignment.
func (b *Broker) createPartitionCount(rt *kmsg.CreateTopicsRequestTopic) (int32, *kerr.Error, string) {
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return 0, kerr.InvalidRequest, "with a replica assignment, the partition count and replication factor must be -1"
		}
		for i, ra := range rt.ReplicaAssignment {
			if ra.Partition != int32(i) {
				return 0, kerr.InvalidReplicaAssignment, "the assignment must list partitions 0, 1, ... in order"
			}
			if err := b.checkReplicas(ra.Replicas); err != nil {
				return 0, kerr.InvalidReplicaAssignment, fmt.Sprintf("partition %d: %v", i, err)
			}
		}
		return int32(len(rt.ReplicaAssignment)), nil, ""
	}
	n := rt.NumPartitions
	switch {
	case n == -1:
		n = b.cfg.NumPartitions
	case n < 1:
		return 0, kerr.InvalidPartitions, fmt.Sprintf("partition count %d must be at least 1 (or -1 for num.partitions)", n)
	case n > maxPartitions:
		return 0, kerr.InvalidPartitions, fmt.Sprintf("partition count %d is over the limit of %d", n, maxPartitions)
	}
	rf := rt.ReplicationFactor
	if rf == -1 {
		rf = b.cfg.DefaultReplicationFactor
	}
	if rf != 1 {
		return 0, kerr.InvalidReplicationFactor, fmt.Sprintf("replication factor %d: this cluster has 1 broker, so it must be 1 (or -1 for the default)", rt.ReplicationFactor)
	}
	return n, nil, ""
}

// checkReplicas accepts the one replica set a single node can host.
func (b *Broker) checkReplicas(replicas []int32) error {
	if len(replicas) != 1 || replicas[0] != b.cfg.NodeID {
		return fmt.Errorf("replicas %v: the only broker is %d", replicas, b.cfg.NodeID)
	}
	return nil
}
