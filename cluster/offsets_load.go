package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	rlog "github.com/runnel-io/runnel/log"
)

// loadReadBytes is how much of a __consumer_offsets partition the replay
// reads at a time (at least one batch).
const loadReadBytes = 1 << 20

// loadStats counts what a replay met.
type loadStats struct {
	batches, records, skipped int
}

// load replays every partition of __consumer_offsets into memory, then
// hands the membership half the latest metadata record of every group
// that has one (restoreGroup; nil for a tombstone), in group order. It
// runs once, in New, before the broker serves; members is kept for
// checkCommit's and expiry's questions.
//
// A record that does not decode (or is of a kind we do not know) is
// skipped with a warning: one bad record must not cost every group its
// offsets. A batch whose header is unreadable is an error: the log's
// recovery verified every batch, so that is corruption below us.
func (s *offsetStore) load(members groupMembership) error {
	start := time.Now()
	s.members = members
	restore := map[string][]byte{}
	var st loadStats
	for _, sh := range s.shards {
		if err := sh.load(s.logger, restore, &st); err != nil {
			return err
		}
	}
	groups := make([]string, 0, len(restore))
	for g := range restore {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		members.restoreGroup(g, restore[g])
	}
	ng, no := s.counts()
	s.logger.Info("committed offsets loaded", "groups", ng, "offsets", no, "group_records", len(groups),
		"batches", st.batches, "records", st.records, "skipped", st.skipped, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// load replays one partition up to its high watermark.
func (sh *offsetShard) load(logger *slog.Logger, restore map[string][]byte, st *loadStats) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	l := sh.p.log
	end := l.HighWatermark()
	for off := l.StartOffset(); off < end; {
		buf, err := l.ReadBatches(off, loadReadBytes, end)
		if err != nil {
			return fmt.Errorf("cluster: load %s-%d at offset %d: %w", offsetsTopic, sh.index, off, err)
		}
		if len(buf) == 0 {
			break // the rest is a gap left by compaction
		}
		next := off
		it := rlog.NewBatchIter(buf)
		for {
			h, batch, ok := it.Next()
			if !ok {
				break
			}
			next = max(next, h.NextOffset())
			sh.loadBatchLocked(logger, &h, batch, restore, st)
		}
		if err := it.Err(); err != nil || next <= off {
			return fmt.Errorf("cluster: load %s-%d at offset %d: no readable batch: %w", offsetsTopic, sh.index, off,
				errors.Join(errBadOffsetRecord, err))
		}
		off = next
	}
	return nil
}

// loadBatchLocked applies one batch's records to memory.
func (sh *offsetShard) loadBatchLocked(logger *slog.Logger, h *rlog.BatchHeader, batch []byte,
	restore map[string][]byte, st *loadStats) {
	st.batches++
	if h.Control() {
		return
	}
	_, recs, err := rlog.DecodeRecords(batch)
	if err != nil {
		st.skipped += int(h.RecordCount)
		logger.Warn("cluster: skipping an undecodable batch of "+offsetsTopic, "partition", sh.index,
			"offset", h.BaseOffset, "err", err)
		return
	}
	for i := range recs {
		st.records++
		r, err := decodeOffsetRecord(recs[i].Key, recs[i].Value)
		if err != nil {
			st.skipped++
			logger.Warn("cluster: skipping a record of "+offsetsTopic, "partition", sh.index,
				"offset", h.BaseOffset+int64(recs[i].OffsetDelta), "err", err)
			continue
		}
		sh.applyLocked(&r)
		if !r.isCommit() {
			restore[r.group] = bytes.Clone(recs[i].Value) // nil stays nil: a tombstone
		}
	}
}

// counts returns how many groups and committed offsets are in memory.
func (s *offsetStore) counts() (groups, offsets int) {
	for _, sh := range s.shards {
		sh.mu.Lock()
		groups += len(sh.mu.groups)
		for _, g := range sh.mu.groups {
			offsets += len(g.offsets)
		}
		sh.mu.Unlock()
	}
	return groups, offsets
}
