package cluster

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-io/runnel/cluster/group"
)

// Heartbeat: v0-4
//
// v3 adds the instance id (KIP-345), v4 is flexible. A member of the
// current generation extends its session; during a rebalance it is told
// REBALANCE_IN_PROGRESS so that it rejoins.

func init() { register(12, 0, 4, handleHeartbeat) }

func handleHeartbeat(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	err := b.groups.heartbeat(req.Group, group.Heartbeat{
		MemberID: req.MemberID, InstanceID: deref(req.InstanceID), Generation: req.Generation,
	})
	if err != nil {
		resp.ErrorCode = err.Code
	}
	return resp, nil
}
