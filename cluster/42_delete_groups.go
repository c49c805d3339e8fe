package cluster

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups: v0-2
//
// v2 is flexible. Only a group without members can be deleted
// (NON_EMPTY_GROUP otherwise); its committed offsets go with it, and a
// tombstone replaces its metadata. A group we do not know, with no
// offsets, is GROUP_ID_NOT_FOUND.

func init() { register(42, 0, 2, handleDeleteGroups) }

func handleDeleteGroups(b *Broker, _ *clientConn, _ requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		switch {
		case name == "":
			rg.ErrorCode = kerr.InvalidGroupID.Code
		default:
			if err := b.groups.deleteGroup(name); err != nil {
				rg.ErrorCode = err.Code
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
