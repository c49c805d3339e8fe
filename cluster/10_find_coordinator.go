package cluster

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-4
//
// A single broker coordinates every group (KeyType 0). v1 adds KeyType and
// ErrorMessage, v3 is flexible, v4 batches keys (KIP-699). An empty key
// or an unknown key type is INVALID_REQUEST, as in Kafka.
//
// A transactional id (KeyType 1) names this broker too, so that the
// client's InitProducerID reaches it and is refused at once with a clear
// error (see 22_init_producer_id.go) instead of retrying.

func init() { register(10, 0, 4, handleFindCoordinator) }

func handleFindCoordinator(b *Broker, _ *clientConn, h requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := b.advertised()
	find := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		switch {
		case req.CoordinatorType != 0 && req.CoordinatorType != 1:
			c.NodeID, c.Port, c.ErrorCode = -1, -1, kerr.InvalidRequest.Code
			c.ErrorMessage = kmsg.StringPtr("unknown coordinator type")
		case key == "":
			c.NodeID, c.Port, c.ErrorCode = -1, -1, kerr.InvalidRequest.Code
			c.ErrorMessage = kmsg.StringPtr("empty coordinator key")
		default:
			c.NodeID, c.Host, c.Port = b.cfg.NodeID, host, port
		}
		return c
	}
	if h.version >= 4 {
		for _, key := range req.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, find(key))
		}
		return resp, nil
	}
	c := find(req.CoordinatorKey)
	resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = c.NodeID, c.Host, c.Port, c.ErrorCode, c.ErrorMessage
	return resp, nil
}
