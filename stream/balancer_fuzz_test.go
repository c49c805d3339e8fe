package stream

import (
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzBalancerMetadata feeds the group leader's balancer member metadata
// from the network: whatever another member sent, balancing either fails
// with an error or assigns each task to exactly one member, never panics.
func FuzzBalancerMetadata(f *testing.F) {
	b := newBalancer([][]string{{"a", "b"}, {"app-x-repartition"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Add(b.JoinGroupMetadata([]string{"a", "b"}, map[string][]int32{"a": {0, 1}, "b": {1}}, 3), []byte{})
	f.Add(b.JoinGroupMetadata([]string{"a"}, nil, -1), []byte{0, 3, 0, 0, 0, 0})
	f.Add([]byte{0, 3, 0, 0, 0, 1, 0, 1, 'a', 0xff, 0xff, 0xff, 0xff}, []byte{0})
	f.Fuzz(func(t *testing.T, meta1, meta2 []byte) {
		topics := map[string]int32{"a": 3, "b": 2, "app-x-repartition": 4}
		var members []kmsg.JoinGroupResponseMember
		for i, meta := range [][]byte{meta1, meta2, b.JoinGroupMetadata([]string{"a", "b", "app-x-repartition"}, nil, 0)} {
			m := kmsg.NewJoinGroupResponseMember()
			m.MemberID = string(rune('a' + i))
			m.ProtocolMetadata = meta
			members = append(members, m)
		}
		mb, _, err := b.MemberBalancer(members)
		if err != nil {
			return
		}
		into, err := mb.(kgo.GroupMemberBalancerOrError).BalanceOrError(topics)
		if err != nil {
			return
		}
		owner := map[string]string{}
		for _, a := range into.IntoSyncAssignment() {
			got, err := b.ParseSyncAssignment(a.MemberAssignment)
			if err != nil {
				t.Fatalf("the leader's own assignment does not parse: %v", err)
			}
			for topic, ps := range got {
				if _, ok := topics[topic]; !ok {
					t.Fatalf("assigned unknown topic %q", topic)
				}
				for _, p := range ps {
					k := topic + "/" + string(rune('0'+p))
					if prev, dup := owner[k]; dup {
						t.Fatalf("partition %s assigned to %s and %s", k, prev, a.MemberID)
					}
					owner[k] = a.MemberID
				}
			}
		}
	})
}
