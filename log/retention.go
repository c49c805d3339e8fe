package log

import (
	"fmt"
	"path/filepath"
	"slices"
)

// TruncateTo removes every record at or above off, so that the log ends at
// off (a follower truncating to its leader's log). off falls on a batch
// boundary in a replicated log; if it falls inside a batch, the whole batch
// goes and the log ends at that batch's base offset.
func (l *Log) TruncateTo(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	t := l.tail.Load()
	if off >= t.next {
		return nil
	}
	l.truncations.Add(1)
	if off < l.startOffset.Load() {
		return fmt.Errorf("%w: truncate to %d below log start %d", ErrOffsetOutOfRange, off, l.startOffset.Load())
	}
	segs := *l.segs.Load()
	keep := len(segs)
	for keep > 1 && segs[keep-1].base >= off {
		keep--
	}
	s := segs[keep-1]
	pos, h, found, err := s.translate(off, s.size.Load())
	if err != nil {
		return err
	}
	newEnd := off
	if found && h.BaseOffset < off {
		newEnd = h.BaseOffset
	}
	if err := s.truncateFrom(pos, newEnd, l.cfg.Load().IndexIntervalBytes); err != nil {
		l.mu.failed = err
		return err
	}
	if s.w.created.IsZero() && s.size.Load() > 0 {
		// A segment loaded by Open is active again: segment.ms counts
		// from now, as for the active segment at Open.
		s.w.created = l.now()
	}
	removed := segs[keep:]
	kept := slices.Clone(segs[:keep])
	l.segs.Store(&kept)
	l.tail.Store(&tailState{seg: s, size: s.size.Load(), next: s.w.next})
	if err := l.releaseSegments(removed); err != nil {
		l.mu.failed = err
		return err
	}
	if l.hw.Load() > s.w.next {
		l.hw.Store(s.w.next)
	}
	l.flushMu.Lock()
	l.recoveryPoint.Store(min(l.recoveryPoint.Load(), s.w.next))
	err = l.writeRecoveryPointLocked()
	l.flushMu.Unlock()
	if err != nil {
		return err
	}
	return l.epochs.truncateFromEnd(s.w.next)
}

// truncateFrom cuts the segment at pos, making it the active segment again:
// its indexes move back to memory and are rebuilt by a scan. Writer only.
func (s *segment) truncateFrom(pos, newEnd int64, intervalBytes int) error {
	if err := s.file.Truncate(pos); err != nil {
		return fmt.Errorf("%w: truncate segment %d to %d: %v", ErrLogFailed, s.base, pos, err)
	}
	s.size.Store(pos)
	for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
		if err := s.fs.Remove(s.path(suffix)); err != nil {
			return fmt.Errorf("%w: remove %s: %v", ErrLogFailed, s.path(suffix), err)
		}
	}
	s.indexReset(nil)
	valid, bad, err := s.scanFrom(0, intervalBytes)
	if err != nil || bad != nil || valid != pos {
		return fmt.Errorf("%w: rescan segment %d after truncation: %v %v", ErrLogFailed, s.base, err, bad)
	}
	if s.w.next < newEnd {
		s.w.next = newEnd
	}
	return nil
}

// releaseSegments unlinks removed segments' files and drops the log's
// references; readers that still hold one finish undisturbed.
func (l *Log) releaseSegments(removed []*segment) error {
	var first error
	for _, s := range removed {
		if err := s.removeFiles(); err != nil && first == nil {
			first = err
		}
		s.unref()
	}
	if len(removed) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil && first == nil {
			first = fmt.Errorf("log: sync %s: %w", l.dir, err)
		}
	}
	return first
}

// DeleteRecords advances the log start offset to off (Kafka's DeleteRecords):
// records below it can no longer be read, and segments wholly below it are
// deleted. off may not pass the high watermark.
func (l *Log) DeleteRecords(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if off > l.hw.Load() {
		return fmt.Errorf("%w: delete records before %d above high watermark %d", ErrOffsetOutOfRange, off, l.hw.Load())
	}
	if off <= l.startOffset.Load() {
		return nil
	}
	if err := writeOffsetFile(l.fs, filepath.Join(l.dir, logStartFile), off); err != nil {
		return fmt.Errorf("log: write log start offset: %w", err)
	}
	l.startOffset.Store(off)
	if _, err := l.deleteSegmentsLocked(func(s, next *segment) bool { return next.base <= off }, "delete-records"); err != nil {
		return err
	}
	// Even when no segment went, epochs below the new start are gone
	// (Kafka's truncateFromStart on every log start offset increment).
	return l.epochs.truncateFromStart(off)
}

// deleteSegmentsLocked deletes the oldest segments while pred holds, never
// the active one, never one holding records at or above the high
// watermark. It returns how many were deleted and advances the log start
// offset past them.
func (l *Log) deleteSegmentsLocked(pred func(s, next *segment) bool, reason string) (int, error) {
	segs := *l.segs.Load()
	n := 0
	for n+1 < len(segs) && segs[n+1].base <= l.hw.Load() && pred(segs[n], segs[n+1]) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	removed := segs[:n]
	kept := slices.Clone(segs[n:])
	newStart := max(l.startOffset.Load(), kept[0].base)
	l.startOffset.Store(newStart)
	l.segs.Store(&kept)
	for _, s := range removed {
		l.logger.Info("log: deleting segment", "dir", l.dir, "segment", s.base, "bytes", s.size.Load(), "reason", reason)
	}
	if err := l.releaseSegments(removed); err != nil {
		return n, err
	}
	return n, l.epochs.truncateFromStart(newStart)
}

// EnforceRetention deletes closed segments past retention.ms (by their
// largest record timestamp) or beyond retention.bytes, when the cleanup
// policy includes delete. It returns the number of segments deleted.
func (l *Log) EnforceRetention() (int, error) {
	cfg := l.cfg.Load()
	if cfg.CleanupPolicy&CleanupDelete == 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	total := 0
	if cfg.RetentionTime >= 0 {
		cutoff := l.now().Add(-cfg.RetentionTime).UnixMilli()
		n, err := l.deleteSegmentsLocked(func(s, _ *segment) bool {
			ts := s.maxTimestamp()
			return ts >= 0 && ts < cutoff
		}, "retention.ms")
		total += n
		if err != nil {
			return total, err
		}
	}
	if cfg.RetentionBytes >= 0 {
		excess := l.Size() - cfg.RetentionBytes
		n, err := l.deleteSegmentsLocked(func(s, _ *segment) bool {
			if excess < s.size.Load() {
				return false
			}
			excess -= s.size.Load()
			return true
		}, "retention.bytes")
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Maintain does a log's periodic work: roll a segment past segment.ms even
// when nothing is appended (so that retention can delete it), apply
// flush.ms, enforce retention and compact. A broker calls it on a timer.
func (l *Log) Maintain() error {
	if err := l.maybeTimeRoll(); err != nil {
		return err
	}
	cfg := l.cfg.Load()
	if cfg.FlushInterval > 0 {
		l.mu.Lock()
		var err error
		if !l.mu.closed && l.mu.failed == nil && l.now().Sub(l.mu.lastFlush) >= cfg.FlushInterval {
			err = l.flushLocked(l.now())
		}
		l.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if _, err := l.EnforceRetention(); err != nil {
		return err
	}
	if cfg.CleanupPolicy&CleanupCompact != 0 {
		if _, err := l.Compact(); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) maybeTimeRoll() error {
	cfg := l.cfg.Load()
	if cfg.SegmentTime <= 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return nil
	}
	t := l.tail.Load()
	if t.size == 0 || l.now().Sub(t.seg.w.created) < cfg.SegmentTime {
		return nil
	}
	_, err := l.rollLocked()
	return err
}
