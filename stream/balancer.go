package stream

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// balancerProtocol is the name of runnel's assignment protocol in
// JoinGroup. Every instance of an application must use it.
const balancerProtocol = "runnel-streams"

// balancer is runnel's kgo.GroupBalancer: it assigns tasks, not
// partitions. The group leader maps each member's owned partitions back
// to tasks, runs assignTasks, expands each task to all its source
// partitions (so co-partitioned inputs stay together), and lets kgo take
// out of the plan every partition that moves between members, so that
// its owner revokes it before the next rebalance hands it over
// (cooperative rebalancing, KIP-429): tasks that do not move keep running.
//
// Member metadata is a ConsumerMemberMetadata (v3) carrying the owned
// partitions and generation, as the cooperative-sticky protocol does.
// All instances of an application run the same topology, so every member
// agrees on which topics make up which sub-topology.
type balancer struct {
	subs   [][]string     // sub-topology id → its full source topic names
	subOf  map[string]int // full source topic name → sub-topology id
	logger *slog.Logger
}

var _ kgo.GroupBalancer = (*balancer)(nil)

func newBalancer(subs [][]string, logger *slog.Logger) *balancer {
	b := &balancer{subs: subs, subOf: map[string]int{}, logger: logger}
	for id, topics := range subs {
		for _, t := range topics {
			b.subOf[t] = id
		}
	}
	return b
}

func (*balancer) ProtocolName() string { return balancerProtocol }
func (*balancer) IsCooperative() bool  { return true }

func (*balancer) JoinGroupMetadata(topics []string, owned map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = topics
	meta.Generation = generation
	for _, t := range slices.Sorted(maps.Keys(owned)) {
		op := kmsg.NewConsumerMemberMetadataOwnedPartition()
		op.Topic = t
		op.Partitions = owned[t]
		meta.OwnedPartitions = append(meta.OwnedPartitions, op)
	}
	return meta.AppendTo(nil)
}

func (*balancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (b *balancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	if err != nil {
		return nil, nil, fmt.Errorf("stream: balancer: %w", err)
	}
	return cb, cb.MemberTopics(), nil
}

// Balance is called on the group leader with the partition count of
// every topic the members read.
func (b *balancer) Balance(cb *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	tasks := b.tasks(topics)
	byID := map[string]*kmsg.JoinGroupResponseMember{}
	var members []assignMember
	cb.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		byID[m.MemberID] = m
		members = append(members, assignMember{ID: m.MemberID, Owned: b.ownedTasks(meta), Generation: meta.Generation})
	})
	assigned := assignTasks(tasks, members)
	plan := cb.NewPlan()
	var summary []string
	for _, id := range slices.Sorted(maps.Keys(assigned)) {
		for _, task := range assigned[id] {
			for _, topic := range b.subs[task.Sub] {
				if task.Partition < topics[topic] {
					plan.AddPartition(byID[id], topic, task.Partition)
				}
			}
		}
		summary = append(summary, fmt.Sprintf("%s=%v", id, assigned[id]))
	}
	b.logger.Info("stream: assigned tasks as group leader", "tasks", len(tasks), "members", len(members), "plan", strings.Join(summary, " "))
	plan.AdjustCooperative(cb)
	return plan
}

// tasks lists the tasks the partition counts make: a sub-topology has as
// many as its largest source topic has partitions.
func (b *balancer) tasks(topics map[string]int32) []TaskID {
	var out []TaskID
	for sub, srcs := range b.subs {
		var n int32
		for _, t := range srcs {
			n = max(n, topics[t])
		}
		for p := range n {
			out = append(out, TaskID{Sub: sub, Partition: p})
		}
	}
	return out
}

// ownedTasks maps a member's owned partitions to the tasks they belong to.
func (b *balancer) ownedTasks(meta *kmsg.ConsumerMemberMetadata) []TaskID {
	var out []TaskID
	seen := map[TaskID]bool{}
	for _, op := range meta.OwnedPartitions {
		sub, ok := b.subOf[op.Topic]
		if !ok {
			continue
		}
		for _, p := range op.Partitions {
			if id := (TaskID{Sub: sub, Partition: p}); !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}
