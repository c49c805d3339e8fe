package cluster

import (
	"math"
	"sort"
	"time"
)

// Removing offsets nobody will read again: those of groups that have been
// empty for offsets.retention.minutes, and those of deleted topics. Both
// write tombstones, so that compaction drops the old records and a
// restart does not bring them back.

// expire removes the committed offsets that are past their retention at
// now, as Kafka's offset expiry (KIP-211) does:
//
//   - a group the coordinator knows, with no members: its offsets expire
//     offsets.retention.minutes after it became empty (or after their
//     commit, if later: a simple commit to an empty group renews its own
//     offset);
//   - a group the coordinator does not know (only simple commits): each
//     offset expires offsets.retention.minutes after its commit;
//   - a group with members keeps its offsets;
//   - an offset committed with its own retention (OffsetCommit v2-4)
//     expires at that time instead, under the same conditions.
//
// The broker's maintenance tick calls it. The membership half is asked
// about each group with no shard lock held; a group that gains a member
// between the question and the tombstones loses offsets it had not yet
// renewed, as it would have a moment earlier.
func (s *offsetStore) expire(now time.Time) {
	nowMs, retentionMs := now.UnixMilli(), s.cfg.OffsetsRetention.Milliseconds()
	for _, sh := range s.shards {
		for _, group := range sh.groupNames() {
			emptySince, empty, known := s.members.groupEmptySince(group)
			if known && !empty {
				continue
			}
			base := int64(math.MinInt64) // simple groups: from each commit
			if known {
				base = emptySince
			}
			n, err := sh.expireGroup(group, base, retentionMs, nowMs)
			switch {
			case err != nil:
				s.logger.Error("cluster: expire committed offsets", "group", group, "err", err)
			case n > 0:
				s.logger.Info("committed offsets expired", "group", group, "partitions", n,
					"retention", s.cfg.OffsetsRetention)
			}
		}
	}
}

func (sh *offsetShard) groupNames() []string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	names := make([]string, 0, len(sh.mu.groups))
	for g := range sh.mu.groups {
		names = append(names, g)
	}
	sort.Strings(names)
	return names
}

// expireGroup writes tombstones for the group's offsets past their
// deadline and returns how many.
func (sh *offsetShard) expireGroup(group string, baseMs, retentionMs, nowMs int64) (int, error) {
	return sh.tombstoneWhere(group, nowMs, func(_ topicPartition, c committedOffset) bool {
		deadline := c.expireMs
		if deadline < 0 {
			deadline = satAdd(max(baseMs, c.commitMs), retentionMs)
		}
		return nowMs >= deadline
	})
}

// satAdd adds without wrapping past math.MaxInt64.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// deleteTopic removes every group's committed offsets of a deleted topic,
// as Kafka does (KAFKA-2000), so that a new topic of the same name starts
// with none.
func (s *offsetStore) deleteTopic(topic string) {
	nowMs := nowMillis()
	for _, sh := range s.shards {
		for _, group := range sh.groupNames() {
			n, err := sh.deleteTopicOffsets(group, topic, nowMs)
			switch {
			case err != nil:
				s.logger.Error("cluster: delete committed offsets of a deleted topic", "group", group, "topic", topic, "err", err)
			case n > 0:
				s.logger.Info("committed offsets of a deleted topic removed", "group", group, "topic", topic, "partitions", n)
			}
		}
	}
}

func (sh *offsetShard) deleteTopicOffsets(group, topic string, nowMs int64) (int, error) {
	return sh.tombstoneWhere(group, nowMs, func(tp topicPartition, _ committedOffset) bool { return tp.topic == topic })
}

// tombstoneWhere removes the group's committed offsets for which drop is
// true, with tombstones written in topic and partition order, and returns
// how many. drop runs under the shard's lock.
func (sh *offsetShard) tombstoneWhere(group string, nowMs int64, drop func(topicPartition, committedOffset) bool) (int, error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	g := sh.mu.groups[group]
	if g == nil {
		return 0, nil
	}
	var gone []offsetCommit
	for tp, c := range g.offsets {
		if drop(tp, c) {
			gone = append(gone, offsetCommit{tp: tp})
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	sortCommits(gone)
	recs := make([]offsetRecord, len(gone))
	for i, c := range gone {
		recs[i] = commitTombstone(group, c.tp)
	}
	return len(recs), sh.appendChunkedLocked(recs, nowMs)
}
