package cluster

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-io/runnel/cluster/group"
)

// SyncGroup: v0-5
//
// v3 adds the instance id (KIP-345), v4 is flexible, v5 names the protocol
// type and name in the request (checked against the group's) and the
// response. The leader's request carries every member's assignment; a
// follower's answer waits for it (see cluster/group).

func init() { register(14, 0, 5, handleSyncGroup) }

func handleSyncGroup(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	s := group.Sync{
		MemberID: req.MemberID, InstanceID: deref(req.InstanceID), Generation: req.Generation,
		ProtocolType: req.ProtocolType, Protocol: req.Protocol,
	}
	for _, a := range req.GroupAssignment {
		s.Assignments = append(s.Assignments, group.MemberAssignment{MemberID: a.MemberID, Assignment: a.MemberAssignment})
	}
	r := b.groups.sync(b.ctx, req.Group, s)
	if r.Err != nil {
		resp.ErrorCode = r.Err.Code
		return resp, nil
	}
	resp.ProtocolType, resp.Protocol = kmsg.StringPtr(r.ProtocolType), kmsg.StringPtr(r.Protocol)
	resp.MemberAssignment = r.Assignment
	return resp, nil
}
