package cluster

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerID: v0-4
//
// Gives an idempotent producer (KIP-98) a fresh producer id with epoch 0.
// From v3 a producer that already has an id may send it with its epoch to
// have the epoch bumped (KIP-360), which resets its sequence numbers on
// every partition: the partitions accept the new epoch from sequence 0
// and fence the old one (INVALID_PRODUCER_EPOCH). An id this broker never
// handed out, or an epoch that cannot grow any more, gets a fresh id
// instead, as Kafka does when the epoch is exhausted. Idempotent
// producers have no coordinator state to check the epoch against: an id
// belongs to the one client that was given it, and a retry of the same
// bump gets the same answer.
//
// Transactions are not supported. A transactional id answers
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED: it is what Kafka answers a client
// that may not use transactional ids here, it is not retriable, and every
// client reports it at once as fatal to the transactional producer,
// instead of retrying a COORDINATOR_NOT_AVAILABLE until it times out. The
// response has no message field, so the broker logs why.
//
// Version notes: v1 no change; v2 flexible; v3 ProducerID and
// ProducerEpoch in the request (KIP-360); v4 no change (the error
// PRODUCER_FENCED may be answered). v5 (KIP-890 transactions v2) is not
// served.

func init() { register(22, 0, 4, handleInitProducerID) }

func handleInitProducerID(b *Broker, cc *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	if req.TransactionalID != nil {
		b.logger.Warn("cluster: refusing a transactional producer: transactions are not supported",
			"remote", cc.remote, "client", cc.clientID, "transactional_id", *req.TransactionalID)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	if (req.ProducerID < 0) != (req.ProducerEpoch < 0) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	if req.ProducerID >= 0 && req.ProducerEpoch < math.MaxInt16-1 && b.pids.issued(req.ProducerID) {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return resp, nil
	}
	id, err := b.pids.next()
	if err != nil {
		b.logger.Error("cluster: allocate a producer id", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
