package cluster

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch: v0-8
//
// Returns a group's committed offsets: of the partitions asked for, or,
// for a null topic list (v2+), every offset the group has. A partition
// without a committed offset, of a known topic or not, answers offset -1
// with no error and empty metadata, as Kafka does; so does every
// partition of a group nobody ever committed for. RequireStable (v7,
// KIP-447) asks to wait for pending transactional commits: runnel has no
// transactions, so every offset is stable.
//
// Version notes: v2 top-level ErrorCode, and a null topic list means all;
// v3 ThrottleMillis; v5 LeaderEpoch (KIP-320); v6 flexible; v7
// RequireStable; v8 many groups in one request (KIP-709).

func init() { register(9, 0, 8, handleOffsetFetch) }

func handleOffsetFetch(b *Broker, _ *clientConn, h requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if h.version >= 8 {
		for _, g := range req.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group = g.Group
			var asked []fetchTopic
			if g.Topics != nil {
				asked = make([]fetchTopic, 0, len(g.Topics))
				for _, t := range g.Topics {
					asked = append(asked, fetchTopic{t.Topic, t.Partitions})
				}
			}
			for _, ft := range b.fetchOffsets(g.Group, asked, g.Topics == nil) {
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic = ft.topic
				for _, fp := range ft.partitions {
					rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = fp.partition, fp.offset, fp.leaderEpoch, fp.metadata
					rt.Partitions = append(rt.Partitions, rp)
				}
				rg.Topics = append(rg.Topics, rt)
			}
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil
	}
	asked := make([]fetchTopic, 0, len(req.Topics))
	for _, t := range req.Topics {
		asked = append(asked, fetchTopic{t.Topic, t.Partitions})
	}
	for _, ft := range b.fetchOffsets(req.Group, asked, h.version >= 2 && req.Topics == nil) {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = ft.topic
		for _, fp := range ft.partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = fp.partition, fp.offset, fp.leaderEpoch, fp.metadata
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// fetchTopic is one topic of an OffsetFetch, in either request shape.
type fetchTopic struct {
	topic      string
	partitions []int32
}

// fetchedPartition is one partition's answer.
type fetchedPartition struct {
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    *string
}

type fetchedTopic struct {
	topic      string
	partitions []fetchedPartition
}

// fetchOffsets answers for one group: the partitions asked, or every
// committed offset of the group when all is set.
func (b *Broker) fetchOffsets(group string, asked []fetchTopic, all bool) []fetchedTopic {
	answer := func(partition int32, c committedOffset, found bool) fetchedPartition {
		if !found {
			return fetchedPartition{partition: partition, offset: -1, leaderEpoch: -1, metadata: kmsg.StringPtr("")}
		}
		md := c.metadata
		return fetchedPartition{partition: partition, offset: c.offset, leaderEpoch: c.leaderEpoch, metadata: &md}
	}
	var out []fetchedTopic
	if all {
		for _, c := range b.offsets.allCommitted(group) {
			if len(out) == 0 || out[len(out)-1].topic != c.tp.topic {
				out = append(out, fetchedTopic{topic: c.tp.topic})
			}
			ft := &out[len(out)-1]
			ft.partitions = append(ft.partitions, answer(c.tp.partition, c.value, true))
		}
		return out
	}
	var tps []topicPartition
	for _, t := range asked {
		for _, p := range t.partitions {
			tps = append(tps, topicPartition{t.topic, p})
		}
	}
	committed, found := b.offsets.committed(group, tps)
	i := 0
	for _, t := range asked {
		ft := fetchedTopic{topic: t.topic, partitions: make([]fetchedPartition, 0, len(t.partitions))}
		for _, p := range t.partitions {
			ft.partitions = append(ft.partitions, answer(p, committed[i], found[i]))
			i++
		}
		out = append(out, ft)
	}
	return out
}
