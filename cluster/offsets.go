package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

// Committed offsets: the offsets half of the group coordinator (see
// groups.go for the seam with the membership half).
//
// Every group belongs to one partition of the compacted internal topic
// __consumer_offsets, chosen as Kafka chooses it (abs(Java hashCode of the
// group id) % partitions). That partition's shard holds the group's
// committed offsets and its latest metadata in memory, and every change is
// first appended to the partition as one RecordBatch (offsets_records.go),
// then applied to memory under the shard's lock: memory follows the log's
// order, and replaying the log at startup (offsets_load.go) rebuilds the
// same state. A commit is acknowledged once its batch is in the log, as
// a produce with acks=1 (or all, on one node) is.
//
// Lock order: shard.mu, then the partition's lock (appendInternal). The
// store never calls the groupMembership while holding a shard's lock, so
// the membership half may call groupStore's methods under its own locks.

const (
	offsetsTopic = "__consumer_offsets"
	// offsetsSegmentBytes is Kafka's offsets.topic.segment.bytes: smaller
	// segments than other topics', so that compaction reaches them sooner.
	offsetsSegmentBytes = 100 << 20
	// offsetsChunkBytes bounds one batch of tombstones written by expiry,
	// DeleteGroups and topic deletion (a commit is always one batch).
	offsetsChunkBytes = 256 << 10
)

// isInternalTopic reports whether clients may not produce to, delete or
// grow the topic.
func isInternalTopic(name string) bool { return name == offsetsTopic }

// groupPartition is the partition of __consumer_offsets that holds a
// group: Kafka's Utils.abs(groupId.hashCode()) % partitions, so that
// Kafka's tools find a group where runnel put it.
func groupPartition(group string, partitions int32) int32 {
	h := javaStringHash(group)
	switch {
	case h == math.MinInt32:
		h = 0 // Kafka's Utils.abs
	case h < 0:
		h = -h
	}
	return h % partitions
}

// javaStringHash is Java's String.hashCode: over UTF-16 code units, with
// 32-bit wrap-around. Invalid UTF-8 counts as U+FFFD, as Java decodes it.
func javaStringHash(s string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(c)
	}
	return h
}

// committedOffset is one committed offset as OffsetFetch returns it.
type committedOffset struct {
	offset      int64
	leaderEpoch int32 // -1: none
	metadata    string
	commitMs    int64
	expireMs    int64 // -1: none (the commit asked for no retention of its own)
}

// groupOffsets is what a shard knows of one group.
type groupOffsets struct {
	offsets map[topicPartition]committedOffset
	meta    *groupMeta // from the latest group metadata record; nil: none
}

// groupMeta is what the offsets half reads from a group's latest metadata
// record: enough to tell which topics an active consumer group reads.
type groupMeta struct {
	protocolType string
	members      int
	topics       map[string]bool // subscribed topics; nil: unknown
}

func newGroupMeta(v *kmsg.GroupMetadataValue) *groupMeta {
	m := &groupMeta{protocolType: v.ProtocolType, members: len(v.Members)}
	if topics, ok := consumerTopics(v); ok {
		m.topics = topics
	}
	return m
}

// offsetShard is one partition of __consumer_offsets and the state of the
// groups that hash to it.
type offsetShard struct {
	index int32
	p     *partition
	mu    struct {
		// Mutex serialises appends to p with the updates they make, so that
		// memory changes in log order.
		sync.Mutex
		groups map[string]*groupOffsets
	}
}

// offsetStore holds every group's committed offsets. It implements
// groupStore for the membership half.
//
// Threading: its methods may be called from any goroutine. members is
// set by load, before the broker serves, and not changed after.
type offsetStore struct {
	cfg     *Config
	topics  *topicStore
	logger  *slog.Logger
	shards  []*offsetShard
	members groupMembership
}

var _ groupStore = (*offsetStore)(nil)

// openOffsets creates __consumer_offsets if it is missing and returns the
// store of its partitions, empty until load replays them.
func openOffsets(cfg *Config, topics *topicStore, logger *slog.Logger) (*offsetStore, error) {
	t, ok := topics.get(offsetsTopic)
	if !ok {
		cfgs := map[string]string{
			"cleanup.policy": "compact",
			"segment.bytes":  strconv.Itoa(offsetsSegmentBytes),
		}
		var err error
		t, err = topics.create(offsetsTopic, cfg.OffsetsTopicNumPartitions, cfgs, false)
		if err != nil {
			return nil, fmt.Errorf("cluster: create %s: %w", offsetsTopic, err)
		}
	}
	ps := topics.view(t).partitions
	if n := int32(len(ps)); n != cfg.OffsetsTopicNumPartitions {
		// As Kafka does, the topic's partition count wins: the groups'
		// records are where it put them.
		logger.Warn("cluster: "+offsetsTopic+" exists with another partition count than offsets.topic.num.partitions; using the topic's",
			"partitions", n, "configured", cfg.OffsetsTopicNumPartitions)
	}
	s := &offsetStore{cfg: cfg, topics: topics, logger: logger}
	for i, p := range ps {
		sh := &offsetShard{index: int32(i), p: p}
		sh.mu.groups = map[string]*groupOffsets{}
		s.shards = append(s.shards, sh)
	}
	return s, nil
}

func nowMillis() int64 { return time.Now().UnixMilli() }

func (s *offsetStore) shard(group string) *offsetShard {
	return s.shards[groupPartition(group, int32(len(s.shards)))]
}

// applyLocked applies one record, appended or replayed, to memory.
func (sh *offsetShard) applyLocked(r *offsetRecord) {
	g := sh.mu.groups[r.group]
	if g == nil {
		if r.commit == nil && r.meta == nil {
			return // a tombstone of something already gone
		}
		g = &groupOffsets{offsets: map[topicPartition]committedOffset{}}
		sh.mu.groups[r.group] = g
	}
	switch {
	case r.isCommit() && r.commit == nil:
		delete(g.offsets, r.tp)
	case r.isCommit():
		v := r.commit
		c := committedOffset{offset: v.Offset, leaderEpoch: v.LeaderEpoch, metadata: v.Metadata,
			commitMs: v.CommitTimestamp, expireMs: -1}
		if v.Version < 3 {
			c.leaderEpoch = -1
		}
		if v.Version == commitValueExpiry && v.ExpireTimestamp >= 0 {
			c.expireMs = v.ExpireTimestamp
		}
		g.offsets[r.tp] = c
	case r.meta == nil:
		g.meta = nil
	default:
		g.meta = newGroupMeta(r.meta)
	}
	if len(g.offsets) == 0 && g.meta == nil {
		delete(sh.mu.groups, r.group)
	}
}

// appendLocked writes recs to the shard's partition as one batch, then
// applies them.
func (sh *offsetShard) appendLocked(recs []offsetRecord, nowMs int64) error {
	batch, err := appendOffsetBatch(nil, recs, nowMs)
	if err != nil {
		return err
	}
	if err := sh.p.appendInternal(batch); err != nil {
		return err
	}
	for i := range recs {
		sh.applyLocked(&recs[i])
	}
	return nil
}

// appendChunkedLocked writes recs in batches of about offsetsChunkBytes,
// for deletions, which need not be atomic.
func (sh *offsetShard) appendChunkedLocked(recs []offsetRecord, nowMs int64) error {
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && (n == 0 || size < offsetsChunkBytes) {
			size += len(recs[n].group) + len(recs[n].tp.topic) + 16
			n++
		}
		if err := sh.appendLocked(recs[:n], nowMs); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// offsetCommit is one partition's offset in an OffsetCommit.
type offsetCommit struct {
	tp    topicPartition
	value committedOffset
}

// commit durably stores a group's offsets, as one batch: all or none.
func (s *offsetStore) commit(group string, commits []offsetCommit, nowMs int64) error {
	recs := make([]offsetRecord, len(commits))
	for i, c := range commits {
		recs[i] = commitRecord(group, c.tp, c.value)
	}
	sh := s.shard(group)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.appendLocked(recs, nowMs)
}

// committed returns a group's committed offset of each of tps (found
// false for those without one).
func (s *offsetStore) committed(group string, tps []topicPartition) (out []committedOffset, found []bool) {
	out, found = make([]committedOffset, len(tps)), make([]bool, len(tps))
	sh := s.shard(group)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if g := sh.mu.groups[group]; g != nil {
		for i, tp := range tps {
			out[i], found[i] = g.offsets[tp]
		}
	}
	return out, found
}

// allCommitted returns every committed offset of a group, sorted by topic
// and partition.
func (s *offsetStore) allCommitted(group string) []offsetCommit {
	sh := s.shard(group)
	sh.mu.Lock()
	var out []offsetCommit
	if g := sh.mu.groups[group]; g != nil {
		out = make([]offsetCommit, 0, len(g.offsets))
		for tp, c := range g.offsets {
			out = append(out, offsetCommit{tp, c})
		}
	}
	sh.mu.Unlock()
	sortCommits(out)
	return out
}

func sortCommits(cs []offsetCommit) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].tp.topic != cs[j].tp.topic {
			return cs[i].tp.topic < cs[j].tp.topic
		}
		return cs[i].tp.partition < cs[j].tp.partition
	})
}

// groupInfo is what the store knows of a group for OffsetDelete.
type groupInfo struct {
	exists bool       // it has offsets or a metadata record
	meta   *groupMeta // nil: no metadata record
}

func (s *offsetStore) info(group string) groupInfo {
	sh := s.shard(group)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	g := sh.mu.groups[group]
	if g == nil {
		return groupInfo{}
	}
	return groupInfo{exists: true, meta: g.meta}
}

// deletePartitions removes a group's committed offsets of tps (those it
// has), with tombstones.
func (s *offsetStore) deletePartitions(group string, tps []topicPartition, nowMs int64) error {
	named := make(map[topicPartition]bool, len(tps))
	for _, tp := range tps {
		named[tp] = true
	}
	_, err := s.shard(group).tombstoneWhere(group, nowMs, func(tp topicPartition, _ committedOffset) bool { return named[tp] })
	return err
}

// --- groupStore, for the membership half ---

// storeGroup appends a group's metadata record (a GroupMetadataValue; nil
// for a tombstone). The value must decode: it is checked before it is
// written, as everything read back from the log is.
func (s *offsetStore) storeGroup(group string, value []byte) error {
	r := offsetRecord{keyVersion: groupKeyVersion, group: group}
	if value != nil {
		v, err := decodeGroupValue(value)
		if err != nil {
			return fmt.Errorf("cluster: store group %q: %w", group, err)
		}
		r.meta = v
	}
	sh := s.shard(group)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.appendLocked([]offsetRecord{r}, nowMillis())
}

// deleteOffsets removes every committed offset of a group (DeleteGroups).
func (s *offsetStore) deleteOffsets(group string) error {
	n, err := s.shard(group).tombstoneWhere(group, nowMillis(), func(topicPartition, committedOffset) bool { return true })
	if err != nil {
		return fmt.Errorf("cluster: delete offsets of group %q: %w", group, err)
	}
	if n > 0 {
		s.logger.Info("group offsets deleted", "group", group, "partitions", n)
	}
	return nil
}

// hasOffsets reports whether a group has committed offsets.
func (s *offsetStore) hasOffsets(group string) bool {
	sh := s.shard(group)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	g := sh.mu.groups[group]
	return g != nil && len(g.offsets) > 0
}

// groupsWithOffsets lists the groups that have committed offsets.
func (s *offsetStore) groupsWithOffsets() []string {
	var out []string
	for _, sh := range s.shards {
		sh.mu.Lock()
		for name, g := range sh.mu.groups {
			if len(g.offsets) > 0 {
				out = append(out, name)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// commitErrorCode is the code a commit answers when its batch could not
// be written, as Kafka maps its append errors: too large a batch is the
// request's fault; a storage error sends the client to find the
// coordinator again.
func commitErrorCode(err error) *kerr.Error {
	switch {
	case errors.Is(err, rlog.ErrBatchTooLarge):
		return kerr.InvalidCommitOffsetSize
	case errors.Is(err, rlog.ErrClosed):
		return kerr.CoordinatorNotAvailable
	}
	return kerr.NotCoordinator
}
