package cluster

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics: v0-6
//
// Deletes each named topic: its metadata at once, then its partitions'
// logs and directories. An unknown name answers
// UNKNOWN_TOPIC_OR_PARTITION, an unknown id UNKNOWN_TOPIC_ID, and an entry
// naming a topic both by name and by id INVALID_REQUEST, and the internal
// __consumer_offsets INVALID_REQUEST. Fetches and produces still in flight
// on a deleted partition see it closed. Every group's committed offsets
// of a deleted topic are deleted with it (KAFKA-2000).
//
// Version notes: v4 flexible; v5 ErrorMessage; v6 topics by name or by id
// (KIP-516), and the response carries the id.

func init() { register(20, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(b *Broker, _ *clientConn, h requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	if h.version < 6 {
		for _, name := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
	}
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, b.deleteTopic(rt))
	}
	return resp, nil
}

func (b *Broker) deleteTopic(rt kmsg.DeleteTopicsRequestTopic) kmsg.DeleteTopicsResponseTopic {
	st := kmsg.NewDeleteTopicsResponseTopic()
	st.Topic, st.TopicID = rt.Topic, rt.TopicID
	fail := func(code *kerr.Error, msg string) kmsg.DeleteTopicsResponseTopic {
		st.ErrorCode, st.ErrorMessage = code.Code, &msg
		return st
	}
	var t *topic
	var ok bool
	switch {
	case rt.Topic != nil && rt.TopicID != [16]byte{}:
		return fail(kerr.InvalidRequest, "name a topic by its name or by its id, not both")
	case rt.Topic != nil:
		if t, ok = b.topics.get(*rt.Topic); !ok {
			return fail(kerr.UnknownTopicOrPartition, "no topic named "+*rt.Topic)
		}
	default:
		if t, ok = b.topics.getByID(rt.TopicID); !ok {
			return fail(kerr.UnknownTopicID, "no topic has this id")
		}
	}
	name := t.name
	st.Topic, st.TopicID = &name, t.id
	if isInternalTopic(name) {
		return fail(kerr.InvalidRequest, name+" is internal: the broker keeps committed offsets in it")
	}
	if err := b.topics.delete(name); err != nil {
		code := kerr.UnknownServerError
		if errors.Is(err, errUnknownTopic) { // deleted by another request meanwhile
			code = kerr.UnknownTopicOrPartition
		}
		return fail(code, clientMessage(err))
	}
	b.offsets.deleteTopic(name)
	return st
}
