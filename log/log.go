// Package log is runnel's partition log: an append-only sequence of Kafka
// RecordBatch v2 batches, stored as received in segment files with sparse
// offset and time indexes, with retention, compaction, crash recovery and a
// leader-epoch checkpoint.
//
// Threading contract: one goroutine at a time writes (Append, AppendAssigned,
// TruncateTo, DeleteRecords, retention); they serialise on the log's writer
// lock. Any number of goroutines read (Read, OffsetForTimestamp, the offset
// getters) without taking that lock and without waiting for an fsync: they
// work on an immutable snapshot of the segment list and read files with
// positional reads. Compaction runs beside both, taking the writer lock only
// to swap a cleaned segment in.
package log

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel-io/runnel/log/vfs"
)

// Errors callers branch on.
var (
	// ErrOffsetOutOfRange: the offset is below the log start offset or
	// above the log end offset.
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	// ErrLogFailed: a write failed and could not be undone; the log refuses
	// writes until it is reopened (which recovers it).
	ErrLogFailed = errors.New("log: failed, reopen to recover")
	// ErrClosed: the log is closed.
	ErrClosed = errors.New("log: closed")
	// ErrOffsetNotMonotonic: a replicated batch's offsets go backwards.
	ErrOffsetNotMonotonic = errors.New("log: batch offset below log end offset")
)

// File names in a log directory besides the segments.
const (
	cleanShutdownFile = "clean-shutdown"
	recoveryPointFile = "recovery-point"
	logStartFile      = "log-start-offset"
	epochFile         = "leader-epoch-checkpoint"
)

// Log is one partition's log in one directory.
type Log struct {
	dir    string
	fs     vfs.FS
	logger *slog.Logger
	now    func() time.Time
	cfg    atomic.Pointer[Config]

	segs        atomic.Pointer[[]*segment] // immutable, sorted by base
	tail        atomic.Pointer[tailState]
	startOffset atomic.Int64
	hw          atomic.Int64

	// recoveryPoint: every offset below it is on stable storage.
	recoveryPoint atomic.Int64
	epochs        *epochCache

	mu struct {
		sync.Mutex
		failed    error
		closed    bool
		unflushed int64 // records appended since the last fsync
		lastFlush time.Time
	}
	// truncations counts TruncateTo calls, so that a compaction that raced
	// one throws its work away.
	truncations atomic.Uint64

	flushMu sync.Mutex     // serialises fsyncs and the recovery point file
	cleanMu sync.Mutex     // one compaction at a time
	bg      sync.WaitGroup // background flushes of rolled segments
}

// tailState is what readers need to know of the end of the log, published
// atomically after every append: the active segment, its readable size and
// the log end offset that size corresponds to.
type tailState struct {
	seg  *segment
	size int64
	next int64
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Config returns the log's current settings.
func (l *Log) Config() Config { return *l.cfg.Load() }

// SetConfig changes the log's settings; the new ones apply from the next
// append, roll, flush or maintenance pass.
func (l *Log) SetConfig(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	l.cfg.Store(&c)
	return nil
}

// StartOffset is the log start offset: the first offset a reader may ask for.
func (l *Log) StartOffset() int64 { return l.startOffset.Load() }

// EndOffset is the log end offset: the offset the next record will get.
func (l *Log) EndOffset() int64 { return l.tail.Load().next }

// HighWatermark is the offset below which records are committed, as set by
// SetHighWatermark (replication decides it; a single node sets it to the
// end offset).
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// SetHighWatermark sets the high watermark, clamped to [start, end].
func (l *Log) SetHighWatermark(off int64) {
	off = min(max(off, l.StartOffset()), l.EndOffset())
	l.hw.Store(off)
}

// RecoveryPoint is the offset below which every record is known to be on
// stable storage.
func (l *Log) RecoveryPoint() int64 { return l.recoveryPoint.Load() }

// Size is the number of bytes in the log's segments.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range *l.segs.Load() {
		n += s.size.Load()
	}
	return n
}

// NumSegments is the number of segments.
func (l *Log) NumSegments() int { return len(*l.segs.Load()) }

// AppendResult describes an appended batch.
type AppendResult struct {
	BaseOffset   int64
	LastOffset   int64
	MaxTimestamp int64
	RecordCount  int32
}

// Append validates one RecordBatch (magic 2, length, CRC-32C, record count)
// and appends it, assigning it the next offsets and stamping leaderEpoch
// (-1 for none). batch is modified in place (its base offset and leader
// epoch, which the CRC does not cover) and stored byte for byte; compressed
// batches stay compressed. A batch that fails validation leaves the log
// unchanged.
func (l *Log) Append(batch []byte, leaderEpoch int32) (AppendResult, error) {
	return l.appendWith(batch, assignOffsets(batch, leaderEpoch))
}

// AppendValidated is Append for a batch that Validate accepted in this
// process: it does not validate the batch again, so the CRC-32C of a
// produced batch is computed once. It checks that the header still says
// what was validated, and the log's max.message.bytes (see Validated for
// what is trusted). The log keeps no reference to v.
func (l *Log) AppendValidated(v *Validated, leaderEpoch int32) (AppendResult, error) {
	if v.batch == nil {
		return AppendResult{}, fmt.Errorf("%w: not validated", ErrCorruptBatch)
	}
	if err := v.unchanged(); err != nil {
		if invariants {
			panic(err) // a bug in the caller, which owns the bytes
		}
		return AppendResult{}, err
	}
	if err := l.checkSize(v.batch); err != nil {
		return AppendResult{}, err
	}
	return l.appendValid(v.batch, v.h, assignOffsets(v.batch, leaderEpoch))
}

// assignOffsets is Append's placement: the batch gets the log end offset
// and leaderEpoch.
func assignOffsets(batch []byte, leaderEpoch int32) func(h *BatchHeader, end int64) error {
	return func(h *BatchHeader, end int64) error {
		h.BaseOffset, h.LeaderEpoch = end, leaderEpoch
		setBaseOffset(batch, end)
		setLeaderEpoch(batch, leaderEpoch)
		return nil
	}
}

// AppendAssigned appends a batch whose offsets were assigned elsewhere (a
// follower copying its leader's log). Its base offset must not be below the
// log end offset; a gap (left by compaction on the leader) is allowed.
func (l *Log) AppendAssigned(batch []byte) (AppendResult, error) {
	return l.appendWith(batch, func(h *BatchHeader, end int64) error {
		if h.BaseOffset < end {
			return fmt.Errorf("%w: batch at %d, log ends at %d", ErrOffsetNotMonotonic, h.BaseOffset, end)
		}
		return nil
	})
}

// appendWith validates batch, then, under the writer's lock, lets place
// set or check its offsets against the log end offset, and appends it.
func (l *Log) appendWith(batch []byte, place func(h *BatchHeader, end int64) error) (AppendResult, error) {
	h, err := l.validate(batch)
	if err != nil {
		return AppendResult{}, err
	}
	return l.appendValid(batch, h, place)
}

// appendValid appends batch, whose header h has been validated.
func (l *Log) appendValid(batch []byte, h BatchHeader, place func(h *BatchHeader, end int64) error) (AppendResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return AppendResult{}, err
	}
	if err := place(&h, l.tail.Load().next); err != nil {
		return AppendResult{}, err
	}
	return l.appendLocked(batch, &h)
}

func (l *Log) validate(batch []byte) (BatchHeader, error) {
	h, err := ValidateBatch(batch)
	if err != nil {
		return h, err
	}
	return h, l.checkSize(batch)
}

// checkSize applies max.message.bytes.
func (l *Log) checkSize(batch []byte) error {
	if max := l.cfg.Load().MaxBatchBytes; len(batch) > max {
		return fmt.Errorf("%w: %d bytes, max.message.bytes is %d", ErrBatchTooLarge, len(batch), max)
	}
	return nil
}

func (l *Log) writableLocked() error {
	if l.mu.closed {
		return ErrClosed
	}
	return l.mu.failed
}

func (l *Log) appendLocked(batch []byte, h *BatchHeader) (AppendResult, error) {
	cfg := l.cfg.Load()
	now := l.now()
	active, err := l.maybeRollLocked(cfg, len(batch), h.LastOffset(), now)
	if err != nil {
		return AppendResult{}, err
	}
	pos := active.size.Load()
	if err := active.appendBatch(batch, h, cfg.IndexIntervalBytes, now); err != nil {
		if errors.Is(err, ErrLogFailed) {
			l.mu.failed = err
		}
		return AppendResult{}, err
	}
	active.remember(pos, h) // before the tail is published: readers at the log end find it
	l.tail.Store(&tailState{seg: active, size: active.size.Load(), next: h.NextOffset()})
	if h.LeaderEpoch >= 0 {
		if err := l.epochs.assign(h.LeaderEpoch, h.BaseOffset); err != nil {
			// The batch is written; the checkpoint is rebuilt from the
			// batches' epochs is not possible, so report it.
			l.logger.Error("log: leader epoch checkpoint", "dir", l.dir, "err", err)
		}
	}
	l.mu.unflushed += int64(h.RecordCount)
	if err := l.maybeFlushLocked(cfg, now); err != nil {
		return AppendResult{}, err
	}
	return AppendResult{BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp, RecordCount: h.RecordCount}, nil
}

// maybeRollLocked returns the segment the next batch goes to, rolling to a
// new one when the active one is full (segment.bytes), old (segment.ms), or
// cannot index the batch's offsets in 32 bits.
func (l *Log) maybeRollLocked(cfg *Config, n int, lastOffset int64, now time.Time) (*segment, error) {
	t := l.tail.Load()
	active := t.seg
	if t.size == 0 {
		return active, nil
	}
	full := t.size+int64(n) > cfg.SegmentBytes
	old := cfg.SegmentTime > 0 && now.Sub(active.w.created) >= cfg.SegmentTime
	if !full && !old && active.fits(n, lastOffset) {
		return active, nil
	}
	return l.rollLocked()
}

// rollLocked seals the active segment and starts a new one at the log end
// offset. The sealed segment is synced in the background, as Kafka does,
// so the append that rolled does not wait for the disk.
func (l *Log) rollLocked() (*segment, error) {
	t := l.tail.Load()
	old := t.seg
	if err := old.seal(); err != nil {
		return nil, l.unsealLocked(old, err)
	}
	s, err := createSegment(l.fs, l.dir, t.next)
	if err != nil {
		return nil, l.unsealLocked(old, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		s.closeFiles()
		l.fs.Remove(s.path(logSuffix))
		return nil, l.unsealLocked(old, fmt.Errorf("log: sync dir after roll: %w", err))
	}
	segs := append(slices.Clone(*l.segs.Load()), s)
	l.segs.Store(&segs)
	l.tail.Store(&tailState{seg: s, size: 0, next: t.next})
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		if err := l.flushTo(s.base, false); err != nil {
			l.logger.Error("log: flush rolled segment", "dir", l.dir, "segment", old.base, "err", err)
			l.mu.Lock()
			l.failSyncLocked(err)
			l.mu.Unlock()
		}
	}()
	return s, nil
}

// unsealLocked keeps the active segment active after a roll failed (cause)
// once it was sealed, whole or in part: a later batch that fits goes to it
// and must be indexed in memory and synced by Flush. If that cannot be
// done the log is failed.
func (l *Log) unsealLocked(active *segment, cause error) error {
	if err := active.unseal(); err != nil {
		l.mu.failed = fmt.Errorf("%w: roll: %w; unseal segment %d: %v", ErrLogFailed, cause, active.base, err)
		return l.mu.failed
	}
	return cause
}

// maybeFlushLocked applies flush.messages and flush.ms.
func (l *Log) maybeFlushLocked(cfg *Config, now time.Time) error {
	due := cfg.FlushMessages > 0 && l.mu.unflushed >= cfg.FlushMessages
	due = due || cfg.FlushInterval > 0 && now.Sub(l.mu.lastFlush) >= cfg.FlushInterval
	if !due {
		return nil
	}
	return l.flushLocked(now)
}

func (l *Log) flushLocked(now time.Time) error {
	if err := l.flushTo(l.tail.Load().next, false); err != nil {
		return l.failSyncLocked(err)
	}
	l.mu.unflushed = 0
	l.mu.lastFlush = now
	return nil
}

// failSyncLocked puts the log in the failed state after an fsync error:
// the kernel may have dropped the dirty pages and a later fsync could
// succeed without them, so nothing written since the last good fsync can
// be trusted to be durable (Kafka takes the log directory offline; Open
// recovers). The batch being appended, if any, may or may not be there
// after the reopen: producers retry, and idempotent ones are deduplicated.
func (l *Log) failSyncLocked(err error) error {
	if l.mu.failed == nil {
		l.mu.failed = fmt.Errorf("%w: fsync: %v", ErrLogFailed, err)
		l.logger.Error("log: fsync failed, refusing writes until reopened", "dir", l.dir, "err", err)
	}
	return fmt.Errorf("%w: fsync: %w", ErrLogFailed, err)
}

// Flush writes every appended record to stable storage and records the
// recovery point, so that a restart after a crash need not scan what is
// below it.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if err := l.flushLocked(l.now()); err != nil {
		return err
	}
	return l.writeRecoveryPoint()
}

// flushTo syncs every segment holding offsets below off. When checkpoint is
// set, or the flush covered a sealed segment, the recovery point file is
// rewritten too.
func (l *Log) flushTo(off int64, checkpoint bool) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if off <= l.recoveryPoint.Load() {
		return nil
	}
	sealedDone := false
	for _, s := range *l.segs.Load() {
		if s.base >= off {
			break
		}
		if s.synced.Load() || !s.tryRef() {
			continue
		}
		err := s.sync()
		if err == nil && s.sealed.Load() {
			s.synced.Store(true)
			sealedDone = true
		}
		s.unref()
		if err != nil {
			return err
		}
	}
	l.recoveryPoint.Store(off)
	if checkpoint || sealedDone {
		return l.writeRecoveryPointLocked()
	}
	return nil
}

func (l *Log) writeRecoveryPoint() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	return l.writeRecoveryPointLocked()
}

func (l *Log) writeRecoveryPointLocked() error {
	return writeOffsetFile(l.fs, filepath.Join(l.dir, recoveryPointFile), l.recoveryPoint.Load())
}

// Close flushes the log, writes the active segment's indexes and the
// clean-shutdown marker (so the next Open needs no recovery scan), and
// releases the files. Readers still holding a Slice keep it readable until
// they close it.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.mu.closed = true
	failed := l.mu.failed
	l.mu.Unlock()
	l.bg.Wait()
	l.cleanMu.Lock() // wait for a running compaction
	defer l.cleanMu.Unlock()

	var err error
	if failed == nil {
		err = l.closeCleanly()
	}
	for _, s := range *l.segs.Load() {
		s.unref()
	}
	return err
}

func (l *Log) closeCleanly() error {
	t := l.tail.Load()
	if err := t.seg.seal(); err != nil {
		return err
	}
	if err := l.flushTo(t.next, true); err != nil {
		return err
	}
	if err := l.writeRecoveryPoint(); err != nil {
		return err
	}
	return vfs.WriteFileAtomic(l.fs, filepath.Join(l.dir, cleanShutdownFile), nil)
}
