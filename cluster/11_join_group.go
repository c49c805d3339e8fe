package cluster

import (
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-io/runnel/cluster/group"
)

// JoinGroup: v0-9
//
// v1 adds the rebalance timeout (v0 uses the session timeout), v4 member
// ids handed out first with MEMBER_ID_REQUIRED (KIP-394), v5 instance ids
// (KIP-345), v6 is flexible, v7 names the protocol type in the response,
// v8 a reason (KIP-800), v9 SkipAssignment (KIP-814). The answer waits for
// the rebalance's join phase (see cluster/group); the connection is muted
// meanwhile, as in Kafka.

func init() { register(11, 0, 9, handleJoinGroup) }

func handleJoinGroup(b *Broker, cc *clientConn, h requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	if req.Group == "" {
		resp.ErrorCode, resp.Generation, resp.MemberID = kerr.InvalidGroupID.Code, -1, req.MemberID
		return resp, nil
	}
	j := group.Join{
		MemberID:             req.MemberID,
		InstanceID:           deref(req.InstanceID),
		ClientID:             cc.clientID,
		ClientHost:           clientHost(cc.remote),
		ProtocolType:         req.ProtocolType,
		SessionTimeout:       time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		RequireKnownMemberID: h.version >= 4,
		Reason:               deref(req.Reason),
	}
	if h.version == 0 {
		j.RebalanceTimeout = j.SessionTimeout
	}
	for _, p := range req.Protocols {
		j.Protocols = append(j.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	r := b.groups.join(b.ctx, req.Group, j)
	resp.MemberID, resp.Generation = r.MemberID, r.Generation
	if r.Err != nil {
		resp.ErrorCode = r.Err.Code
		return resp, nil
	}
	resp.ProtocolType, resp.Protocol = kmsg.StringPtr(r.ProtocolType), kmsg.StringPtr(r.Protocol)
	resp.LeaderID, resp.SkipAssignment = r.Leader, r.SkipAssignment
	for _, m := range r.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.ProtocolMetadata = m.MemberID, m.Metadata
		if m.InstanceID != "" {
			rm.InstanceID = kmsg.StringPtr(m.InstanceID)
		}
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}

// clientHost is how Kafka shows a member's host: "/" and its IP.
func clientHost(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return "/" + host
}
