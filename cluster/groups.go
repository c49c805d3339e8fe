package cluster

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// The consumer-group coordinator has two halves that meet here:
//
//   - membership (coordinator.go, the pure state machine in cluster/group):
//     JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups,
//     ListGroups, DeleteGroups, FindCoordinator;
//   - committed offsets (offsets.go): the compacted __consumer_offsets topic,
//     OffsetCommit, OffsetFetch, OffsetDelete, expiry, and the replay that
//     rebuilds both halves when the broker starts.
//
// Each half reaches the other only through these interfaces.

// groupMembership is what the offsets half asks of the membership half.
type groupMembership interface {
	// checkCommit validates an OffsetCommit's member and generation:
	// nil to accept; ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
	// REBALANCE_IN_PROGRESS or FENCED_INSTANCE_ID to refuse. A commit with
	// generation -1 and an empty member id is a "simple" commit (a consumer
	// outside the group protocol) and is accepted only when the group has
	// no members.
	checkCommit(group, memberID string, instanceID *string, generation int32) *kerr.Error
	// groupEmptySince reports whether the group has no members, and since
	// when (unix ms), for offsets.retention.minutes; known is false for a
	// group the coordinator has never seen.
	groupEmptySince(group string) (emptySinceMs int64, empty, known bool)
	// restoreGroup is called during startup replay with the latest group
	// metadata record of a group (nil value: the group was deleted).
	restoreGroup(group string, value []byte)
}

// groupStore is what the membership half asks of the offsets half.
type groupStore interface {
	// storeGroup durably records a group's metadata (a GroupMetadataValue
	// record, or a tombstone when value is nil) in __consumer_offsets.
	storeGroup(group string, value []byte) error
	// deleteOffsets removes every committed offset of a group (DeleteGroups).
	deleteOffsets(group string) error
	// hasOffsets reports whether a group has committed offsets (ListGroups
	// and DescribeGroups show such groups as Empty).
	hasOffsets(group string) bool
	// groupsWithOffsets lists the groups that have committed offsets, for
	// ListGroups (after a restart such a group may have no members and no
	// metadata record, only offsets).
	groupsWithOffsets() []string
}
