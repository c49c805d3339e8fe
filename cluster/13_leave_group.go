package cluster

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-io/runnel/cluster/group"
)

// LeaveGroup: v0-5
//
// v0-2 name one member, whose error is the response's. v3 batches members,
// by member id or instance id (KIP-345), each answered on its own; v4 is
// flexible; v5 gives each a reason (KIP-800). The rest of the group
// rebalances.

func init() { register(13, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(b *Broker, _ *clientConn, h requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	var ms []group.LeaveMember
	if h.version < 3 {
		ms = append(ms, group.LeaveMember{MemberID: req.MemberID})
	}
	for _, m := range req.Members {
		ms = append(ms, group.LeaveMember{MemberID: m.MemberID, InstanceID: deref(m.InstanceID), Reason: deref(m.Reason)})
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	errs := b.groups.leave(req.Group, ms)
	if h.version < 3 {
		if errs[0] != nil {
			resp.ErrorCode = errs[0].Code
		}
		return resp, nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
		if errs[i] != nil {
			rm.ErrorCode = errs[i].Code
		}
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
