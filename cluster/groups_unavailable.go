package cluster

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The consumer-group APIs, until the group coordinator exists: every
// group is answered COORDINATOR_NOT_AVAILABLE (retriable, so clients wait
// and retry rather than fail), ListGroups answers no groups.
//
//	FindCoordinator  (10) v0-4  v1 KeyType and ErrorMessage, v3 flexible, v4 batched keys (KIP-699)
//	OffsetCommit     (8)  v0-8  v8 flexible
//	OffsetFetch      (9)  v0-8  v2 top-level ErrorCode, v6 flexible, v8 batched groups (KIP-709)
//	JoinGroup        (11) v0-9  v4 member ids (KIP-394), v6 flexible
//	Heartbeat        (12) v0-4  v4 flexible
//	LeaveGroup       (13) v0-5  v3 batched members (KIP-345), v4 flexible
//	SyncGroup        (14) v0-5  v4 flexible
//	DescribeGroups   (15) v0-5  v5 flexible
//	ListGroups       (16) v0-4  v3 flexible, v4 state filter (KIP-518)
//	DeleteGroups     (42) v0-2  v2 flexible
//
// These are the versions Kafka served before the KIP-848 protocol, which
// franz-go, sarama, librdkafka and kafka-python all negotiate.
//
// FindCoordinator for a transactional id (KeyType 1) names this broker,
// so that the client's InitProducerID reaches it and is refused at once
// with a clear error (see 22_init_producer_id.go) instead of retrying.

func init() {
	for _, a := range unavailableGroupAPIs {
		answer := a.answer
		register(a.key, a.min, a.max, func(b *Broker, _ *clientConn, _ requestHeader, req kmsg.Request) (kmsg.Response, error) {
			resp := req.ResponseKind()
			answer(b, req, resp)
			return resp, nil
		})
	}
}

const noCoordinatorMsg = "runnel has no group coordinator yet"

var noCoordinator = kerr.CoordinatorNotAvailable.Code

var unavailableGroupAPIs = []struct {
	key, min, max int16
	answer        func(b *Broker, req kmsg.Request, resp kmsg.Response)
}{
	{10, 0, 4, answerFindCoordinator},
	{8, 0, 8, answerOffsetCommit},
	{9, 0, 8, answerOffsetFetch},
	{11, 0, 9, func(_ *Broker, _ kmsg.Request, resp kmsg.Response) {
		r := resp.(*kmsg.JoinGroupResponse)
		r.ErrorCode, r.Generation = noCoordinator, -1
	}},
	{12, 0, 4, func(_ *Broker, _ kmsg.Request, resp kmsg.Response) {
		resp.(*kmsg.HeartbeatResponse).ErrorCode = noCoordinator
	}},
	{13, 0, 5, func(_ *Broker, _ kmsg.Request, resp kmsg.Response) {
		resp.(*kmsg.LeaveGroupResponse).ErrorCode = noCoordinator
	}},
	{14, 0, 5, func(_ *Broker, _ kmsg.Request, resp kmsg.Response) {
		resp.(*kmsg.SyncGroupResponse).ErrorCode = noCoordinator
	}},
	{15, 0, 5, func(_ *Broker, req kmsg.Request, resp kmsg.Response) {
		r := resp.(*kmsg.DescribeGroupsResponse)
		for _, g := range req.(*kmsg.DescribeGroupsRequest).Groups {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, noCoordinator
			r.Groups = append(r.Groups, rg)
		}
	}},
	{16, 0, 4, func(*Broker, kmsg.Request, kmsg.Response) {}},
	{42, 0, 2, func(_ *Broker, req kmsg.Request, resp kmsg.Response) {
		r := resp.(*kmsg.DeleteGroupsResponse)
		for _, g := range req.(*kmsg.DeleteGroupsRequest).Groups {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, noCoordinator
			r.Groups = append(r.Groups, rg)
		}
	}},
}

func answerFindCoordinator(b *Broker, kreq kmsg.Request, resp kmsg.Response) {
	req, r := kreq.(*kmsg.FindCoordinatorRequest), resp.(*kmsg.FindCoordinatorResponse)
	host, port := b.advertised()
	find := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		if req.CoordinatorType == 1 { // transactions: see the file comment
			c.NodeID, c.Host, c.Port = b.cfg.NodeID, host, port
			return c
		}
		c.NodeID, c.Port, c.ErrorCode = -1, -1, noCoordinator
		c.ErrorMessage = kmsg.StringPtr(noCoordinatorMsg)
		return c
	}
	if req.Version >= 4 {
		for _, key := range req.CoordinatorKeys {
			r.Coordinators = append(r.Coordinators, find(key))
		}
		return
	}
	c := find(req.CoordinatorKey)
	r.NodeID, r.Host, r.Port, r.ErrorCode, r.ErrorMessage = c.NodeID, c.Host, c.Port, c.ErrorCode, c.ErrorMessage
}

func answerOffsetCommit(_ *Broker, kreq kmsg.Request, resp kmsg.Response) {
	r := resp.(*kmsg.OffsetCommitResponse)
	for _, t := range kreq.(*kmsg.OffsetCommitRequest).Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, noCoordinator
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
}

func answerOffsetFetch(_ *Broker, kreq kmsg.Request, resp kmsg.Response) {
	req, r := kreq.(*kmsg.OffsetFetchRequest), resp.(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, g := range req.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, noCoordinator
			r.Groups = append(r.Groups, rg)
		}
		return
	}
	r.ErrorCode = noCoordinator // v2+; v0 and v1 read the partitions' codes
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.ErrorCode = p, -1, noCoordinator
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
}
