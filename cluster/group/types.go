package group

import (
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// State is a group's state, named as Kafka names it in DescribeGroups and
// ListGroups.
type State int8

const (
	// Empty: no members. A group with committed offsets but no members is
	// Empty too; its first join starts a rebalance after the initial
	// rebalance delay.
	Empty State = iota
	// PreparingRebalance: waiting for every member to (re)join.
	PreparingRebalance
	// CompletingRebalance: the join phase is over, the new generation is
	// numbered and the leader is computing the assignment.
	CompletingRebalance
	// Stable: the leader's assignment has been handed out.
	Stable
	// Dead: the group was deleted; every request is refused.
	Dead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// ParseState returns the state named s, ignoring case (ListGroups' state
// filter, KIP-518).
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if strings.EqualFold(n, s) {
			return State(i), true
		}
	}
	return 0, false
}

// MaxMetadataBytes bounds one member's metadata for one protocol in
// JoinGroup, and one member's assignment in the leader's SyncGroup. Kafka
// has no such check at the request: the whole group is written as one
// record to __consumer_offsets, and a group too big for it fails the
// leader's SyncGroup with UNKNOWN_SERVER_ERROR. We refuse a member's
// oversized metadata at once, with INVALID_REQUEST, so the error reaches
// the member that caused it.
const MaxMetadataBytes = 1 << 20

// Config is what a group needs from the broker's configuration.
type Config struct {
	// InitialRebalanceDelay is how long an Empty group's first rebalance
	// waits for more members (group.initial.rebalance.delay.ms, 3 s in
	// Kafka); every new member extends the wait by as much again, up to
	// the rebalance timeout.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound a member's session
	// timeout (group.min.session.timeout.ms, group.max.session.timeout.ms).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// MaxMembers is group.max.size.
	MaxMembers int
	// NewMemberID names a new member. Kafka uses the client id (or
	// instance id) and a UUID. Nil: prefix-1, prefix-2, ... in this group
	// (deterministic, for tests).
	NewMemberID func(clientID, instanceID string) string
}

// DefaultConfig returns Kafka's defaults, except MaxMembers, which Kafka
// leaves unbounded.
func DefaultConfig() Config {
	return Config{
		InitialRebalanceDelay: 3 * time.Second,
		MinSessionTimeout:     6 * time.Second,
		MaxSessionTimeout:     30 * time.Minute,
		MaxMembers:            10_000,
	}
}

// RequestID names a JoinGroup or SyncGroup request whose response may be
// deferred. The caller chooses it; the group hands it back in a Response.
type RequestID uint64

// Protocol is one assignment protocol a member supports, with the
// member's metadata for it (for the "consumer" type, a
// ConsumerMemberMetadata: topics, owned partitions, ...). The group never
// reads the bytes.
type Protocol struct {
	Name     string
	Metadata []byte
}

// Join is a JoinGroup request.
type Join struct {
	Req                  RequestID
	MemberID, InstanceID string // InstanceID "" for a dynamic member
	ClientID, ClientHost string
	ProtocolType         string
	Protocols            []Protocol // in the member's order of preference
	SessionTimeout       time.Duration
	RebalanceTimeout     time.Duration
	// RequireKnownMemberID is set from JoinGroup v4 (KIP-394): a dynamic
	// member's first join is answered MEMBER_ID_REQUIRED with its id.
	RequireKnownMemberID bool
	Reason               string // v8+
}

// JoinResult answers a Join.
type JoinResult struct {
	Err            *kerr.Error
	MemberID       string
	Generation     int32 // -1 with an error
	ProtocolType   string
	Protocol       string
	Leader         string
	SkipAssignment bool         // the leader is a static member that replaced itself (KIP-814)
	Members        []JoinMember // for the leader only
}

// JoinMember is what the leader learns of one member.
type JoinMember struct {
	MemberID, InstanceID string
	Metadata             []byte // for the chosen protocol
}

// Sync is a SyncGroup request.
type Sync struct {
	Req                  RequestID
	MemberID, InstanceID string
	Generation           int32
	// ProtocolType and Protocol are checked against the group's when set
	// (SyncGroup v5+).
	ProtocolType, Protocol *string
	Assignments            []MemberAssignment // from the leader
}

// SyncResult answers a Sync.
type SyncResult struct {
	Err                    *kerr.Error
	ProtocolType, Protocol string
	Assignment             []byte
}

// MemberAssignment is one member's share, as the leader encoded it.
type MemberAssignment struct {
	MemberID   string
	Assignment []byte
}

// Heartbeat is a Heartbeat request.
type Heartbeat struct {
	MemberID, InstanceID string
	Generation           int32
}

// LeaveMember is one member of a LeaveGroup request: a member id, or an
// instance id (with an optional member id to check) for a static member.
type LeaveMember struct {
	MemberID, InstanceID, Reason string
}

// Response is the answer to a Join or a Sync (one of the two is set),
// produced at once or when the rebalance allows.
type Response struct {
	Req  RequestID
	Join *JoinResult
	Sync *SyncResult
}

// EventKind says what happened.
type EventKind int8

const (
	// MemberAdded: Member joined (Cause is CauseJoin).
	MemberAdded EventKind = iota
	// MemberRemoved: Member is gone, for Cause.
	MemberRemoved
	// StaticReplaced: Member replaced Previous for InstanceID; Rebalance
	// says whether a rebalance follows.
	StaticReplaced
	// RebalanceStarted: the group entered PreparingRebalance because of
	// Member, for Cause. Generation is the old one; Before is the
	// assignment of the last completed rebalance.
	RebalanceStarted
	// JoinCompleted: the join phase ended; Generation, Leader, Protocol
	// and Members are the new generation's. Cause and Member are those
	// that started the rebalance.
	JoinCompleted
	// RebalanceCompleted: the leader's assignment was handed out; the
	// group is Stable. Before and After are the assignments; Cause and
	// Member, what started the rebalance.
	RebalanceCompleted
	// GroupEmpty: the last member is gone (Cause and Member: what started
	// the rebalance that found no one); Before is the last assignment.
	GroupEmpty
	// GroupDeleted: the group is Dead.
	GroupDeleted
)

var eventNames = [...]string{"member-added", "member-removed", "static-replaced", "rebalance-started",
	"join-completed", "rebalance-completed", "group-empty", "group-deleted"}

func (k EventKind) String() string { return eventNames[k] }

// Cause is why a member came or went, or why a rebalance started.
type Cause int8

const (
	CauseNone Cause = iota
	// CauseJoin: a new member joined.
	CauseJoin
	// CauseMetadataChange: a member rejoined with other protocols or
	// metadata (its subscription or owned partitions changed), or the
	// leader rejoined (it does so when topic metadata changes).
	CauseMetadataChange
	// CauseStaticRejoin: a static member restarted while the group was
	// rebalancing, or with protocols that change the group's choice.
	CauseStaticRejoin
	// CauseLeave: LeaveGroup.
	CauseLeave
	// CauseSessionExpiry: no heartbeat within the session timeout.
	CauseSessionExpiry
	// CauseRebalanceTimeout: the member did not rejoin within the
	// rebalance timeout.
	CauseRebalanceTimeout
	// CauseSyncTimeout: the member did not send SyncGroup within the
	// rebalance timeout after the join phase.
	CauseSyncTimeout
)

var causeNames = [...]string{"", "join", "metadata-change", "static-rejoin", "leave",
	"session-expiry", "rebalance-timeout", "sync-timeout"}

func (c Cause) String() string { return causeNames[c] }

// Event is something the driver logs.
type Event struct {
	Kind       EventKind
	Cause      Cause
	Generation int32
	Member     string
	InstanceID string
	Previous   string // StaticReplaced: the replaced member id
	Rebalance  bool   // StaticReplaced: a rebalance follows
	Reason     string // the client's reason, when it gave one
	Leader     string
	Protocol   string
	Members    []string           // JoinCompleted
	Before     []MemberAssignment // sorted by member id
	After      []MemberAssignment // sorted by member id
}

// Ready is what the group produced since the last call to Ready: the
// responses to deliver, the events to log and the metadata to persist.
type Ready struct {
	Responses []Response
	Events    []Event
	// Store, when set, is the group's latest metadata to persist (a
	// generation completed, the group emptied, or a static member
	// replaced itself).
	Store *Snapshot
	// Tombstone: the group was deleted; persist a tombstone.
	Tombstone bool
}

// Snapshot is the group's durable metadata: Kafka's GroupMetadataValue.
type Snapshot struct {
	ProtocolType string
	Generation   int32
	Protocol     string
	Leader       string
	StateSince   time.Time
	Members      []SnapshotMember
}

// SnapshotMember is one member of a Snapshot.
type SnapshotMember struct {
	MemberID, InstanceID string
	ClientID, ClientHost string
	SessionTimeout       time.Duration
	RebalanceTimeout     time.Duration
	Metadata             []byte // for the group's protocol
	Assignment           []byte
}

// Description is DescribeGroups' view of a group.
type Description struct {
	State        State
	ProtocolType string
	Protocol     string // set only when Stable, as Kafka does
	Members      []MemberDescription
}

// MemberDescription is one member of a Description.
type MemberDescription struct {
	MemberID, InstanceID string
	ClientID, ClientHost string
	Metadata             []byte // set only when Stable
	Assignment           []byte // set only when Stable
}
