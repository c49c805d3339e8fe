package cluster

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster: v0-1
//
// The cluster (KIP-700): this broker, the cluster id, and this node as the
// controller. There are no ACLs, so when the authorized operations are
// asked for, every operation Kafka defines on a cluster is allowed.
//
// Version notes: v1 EndpointType (KIP-919): brokers (1) are served; a
// single node has no separate controller endpoints, so asking for
// controllers (2) answers UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker
// does. v2 (fenced brokers) is not served: nothing is ever fenced here.

func init() { register(60, 0, 1, handleDescribeCluster) }

// clusterOperations are the ACL operations that apply to a cluster.
var clusterOperations = []kmsg.ACLOperation{
	kmsg.ACLOperationCreate, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
	kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
	kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite,
}

func handleDescribeCluster(b *Broker, _ *clientConn, h requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if h.version >= 1 && req.EndpointType != 1 {
		resp.EndpointType = req.EndpointType
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := "this broker serves broker endpoints (type 1) only"
		resp.ErrorMessage = &msg
		return resp, nil
	}
	host, port := b.advertised()
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, host, port
	resp.Brokers = append(resp.Brokers, br)
	resp.ClusterID = b.cfg.ClusterID
	resp.ControllerID = b.cfg.NodeID
	if req.IncludeClusterAuthorizedOperations {
		var ops int32
		for _, op := range clusterOperations {
			ops |= 1 << op
		}
		resp.ClusterAuthorizedOperations = ops
	}
	return resp, nil
}
