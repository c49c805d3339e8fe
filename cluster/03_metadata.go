package cluster

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata: v0-12
//
// Brokers (this one), the cluster id, the controller (this node) and the
// asked-for topics (all of them for a null list, or an empty one before
// v1), by name or, v10+, by topic id. An unknown topic is created when
// auto.create.topics.enable is set and the request allows it (always
// before v4, AllowAutoTopicCreation from v4), with num.partitions
// partitions; an invalid name answers INVALID_TOPIC_EXCEPTION.
// __consumer_offsets is listed with IsInternal set.

func init() { register(3, 0, 12, handleMetadata) }

func handleMetadata(b *Broker, _ *clientConn, h requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := b.advertised()
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, host, port
	resp.Brokers = append(resp.Brokers, br)
	resp.ClusterID = &b.cfg.ClusterID
	resp.ControllerID = b.cfg.NodeID

	allTopics := req.Topics == nil || (h.version == 0 && len(req.Topics) == 0)
	if allTopics {
		for _, t := range b.topics.all() {
			resp.Topics = append(resp.Topics, b.metadataTopic(b.topics.view(t)))
		}
		return resp, nil
	}
	autoCreate := b.cfg.AutoCreateTopics && (h.version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, b.metadataFor(rt, autoCreate))
	}
	return resp, nil
}

// metadataFor answers for one requested topic.
func (b *Broker) metadataFor(rt kmsg.MetadataRequestTopic, autoCreate bool) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
	if rt.Topic == nil {
		t, ok := b.topics.getByID(rt.TopicID)
		if !ok {
			mt.ErrorCode = kerr.UnknownTopicID.Code
			return mt
		}
		return b.metadataTopic(b.topics.view(t))
	}
	name := *rt.Topic
	t, ok := b.topics.get(name)
	if !ok {
		if err := validTopicName(name); err != nil {
			mt.ErrorCode = kerr.InvalidTopicException.Code
			return mt
		}
		if !autoCreate {
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			return mt
		}
		var err error
		t, err = b.autoCreate(name)
		if err != nil {
			mt.ErrorCode = createErrorCode(err).Code
			return mt
		}
	}
	return b.metadataTopic(b.topics.view(t))
}

// autoCreate creates a topic with the broker's defaults; a topic that
// another request created meanwhile is simply returned.
func (b *Broker) autoCreate(name string) (*topic, error) {
	t, err := b.topics.create(name, b.cfg.NumPartitions, nil, false)
	if errors.Is(err, errTopicExists) {
		if t, ok := b.topics.get(name); ok {
			return t, nil
		}
	}
	return t, err
}

func (b *Broker) metadataTopic(t topicView) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.name
	mt.Topic, mt.TopicID = &name, t.id
	mt.IsInternal = isInternalTopic(name)
	for _, p := range t.partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.index
		mp.Leader = b.cfg.NodeID
		mp.LeaderEpoch = p.leaderEpoch
		mp.Replicas = p.replicas
		mp.ISR = p.isr
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// createErrorCode maps topic-store errors to Kafka's codes.
func createErrorCode(err error) *kerr.Error {
	var ic errInvalidConfig
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errTopicExists):
		return kerr.TopicAlreadyExists
	case errors.Is(err, errInvalidTopic):
		return kerr.InvalidTopicException
	case errors.Is(err, errBadPartitions):
		return kerr.InvalidPartitions
	case errors.Is(err, errUnknownTopic):
		return kerr.UnknownTopicOrPartition
	case errors.As(err, &ic):
		return kerr.InvalidConfig
	}
	return kerr.UnknownServerError
}
