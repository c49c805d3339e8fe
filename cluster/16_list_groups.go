package cluster

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-io/runnel/cluster/group"
)

// ListGroups: v0-4
//
// v3 is flexible, v4 filters by state (KIP-518; names match ignoring
// case, an unknown name matches nothing) and shows each group's state.
// Every live group is listed, including Empty ones kept for their
// committed offsets.

func init() { register(16, 0, 4, handleListGroups) }

func handleListGroups(b *Broker, _ *clientConn, h requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	var want map[group.State]bool
	if h.version >= 4 && len(req.StatesFilter) > 0 {
		want = map[group.State]bool{}
		for _, s := range req.StatesFilter {
			if st, ok := group.ParseState(s); ok {
				want[st] = true
			}
		}
	}
	for _, g := range b.groups.list() {
		if want != nil && !want[g.state] {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState = g.name, g.protocolType, g.state.String()
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
