package log

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/runnel-io/runnel/log/vfs"
)

// ErrCorruptCheckpoint reports a checkpoint file that cannot be parsed.
var ErrCorruptCheckpoint = errors.New("log: corrupt checkpoint file")

// UndefinedEpoch is what EndOffsetForEpoch returns for an epoch it cannot
// place, with UndefinedEpochOffset (Kafka's -1 and -1).
const (
	UndefinedEpoch       int32 = -1
	UndefinedEpochOffset int64 = -1
)

// EpochEntry says that leader epoch Epoch wrote its first record at
// StartOffset.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is the leader-epoch checkpoint: epoch → start offset, kept in
// memory and in a file, as Kafka's leader-epoch-checkpoint. Replicas use it
// to find where their log diverged from a new leader's (KIP-101, KIP-279).
type epochCache struct {
	fs   vfs.FS
	path string
	mu   struct {
		sync.RWMutex
		entries []EpochEntry // epochs and start offsets both increasing
	}
}

func openEpochCache(fs vfs.FS, dir string) (*epochCache, error) {
	c := &epochCache{fs: fs, path: filepath.Join(dir, epochFile)}
	ok, err := fs.Exists(c.path)
	if err != nil || !ok {
		return c, err
	}
	data, err := vfs.ReadFile(fs, c.path)
	if err != nil {
		return nil, fmt.Errorf("log: read %s: %w", c.path, err)
	}
	entries, err := parseEpochCheckpoint(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.path, err)
	}
	c.mu.entries = entries
	return c, nil
}

// parseEpochCheckpoint parses Kafka's checkpoint text format: a version
// line (0), a count line, then "epoch offset" lines.
func parseEpochCheckpoint(data []byte) ([]EpochEntry, error) {
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if len(lines) < 2 || string(lines[0]) != "0" {
		return nil, fmt.Errorf("%w: bad header", ErrCorruptCheckpoint)
	}
	n, err := strconv.Atoi(string(lines[1]))
	if err != nil || n < 0 || n != len(lines)-2 {
		return nil, fmt.Errorf("%w: count %q for %d lines", ErrCorruptCheckpoint, lines[1], len(lines)-2)
	}
	entries := make([]EpochEntry, 0, n)
	for _, line := range lines[2:] {
		f := bytes.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: line %q", ErrCorruptCheckpoint, line)
		}
		e, err1 := strconv.ParseInt(string(f[0]), 10, 32)
		o, err2 := strconv.ParseInt(string(f[1]), 10, 64)
		if err1 != nil || err2 != nil || e < 0 || o < 0 {
			return nil, fmt.Errorf("%w: line %q", ErrCorruptCheckpoint, line)
		}
		if k := len(entries); k > 0 && (int32(e) <= entries[k-1].Epoch || o < entries[k-1].StartOffset) {
			return nil, fmt.Errorf("%w: entries not increasing at %q", ErrCorruptCheckpoint, line)
		}
		entries = append(entries, EpochEntry{Epoch: int32(e), StartOffset: o})
	}
	return entries, nil
}

func formatEpochCheckpoint(entries []EpochEntry) []byte {
	b := fmt.Appendf(nil, "0\n%d\n", len(entries))
	for _, e := range entries {
		b = fmt.Appendf(b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return b
}

func (c *epochCache) writeLocked() error {
	return vfs.WriteFileAtomic(c.fs, c.path, formatEpochCheckpoint(c.mu.entries))
}

// assign records that epoch starts at off, if epoch is newer than the
// latest known. Writer only.
func (c *epochCache) assign(epoch int32, off int64) error {
	c.mu.RLock()
	n := len(c.mu.entries)
	stale := n > 0 && c.mu.entries[n-1].Epoch >= epoch
	c.mu.RUnlock()
	if stale {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// An epoch that starts where a later-numbered one started replaces it;
	// entries keep both fields increasing.
	for n := len(c.mu.entries); n > 0 && c.mu.entries[n-1].StartOffset >= off; n-- {
		c.mu.entries = c.mu.entries[:n-1]
	}
	c.mu.entries = append(c.mu.entries, EpochEntry{Epoch: epoch, StartOffset: off})
	return c.writeLocked()
}

func (c *epochCache) list() []EpochEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]EpochEntry(nil), c.mu.entries...)
}

// endOffsetFor answers OffsetForLeaderEpoch: the largest epoch <= epoch
// and the offset where the next epoch started (the end offset when epoch is
// the latest).
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	es := c.mu.entries
	if epoch < 0 || len(es) == 0 {
		return UndefinedEpoch, UndefinedEpochOffset
	}
	if epoch == es[len(es)-1].Epoch {
		return epoch, logEnd
	}
	higher := -1
	for i, e := range es {
		if e.Epoch > epoch {
			higher = i
			break
		}
	}
	switch {
	case higher < 0:
		return UndefinedEpoch, UndefinedEpochOffset
	case higher == 0:
		return epoch, es[0].StartOffset
	default:
		return es[higher-1].Epoch, es[higher].StartOffset
	}
}

// truncateFromEnd forgets epochs that start at or after end. Writer only.
func (c *epochCache) truncateFromEnd(end int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.mu.entries)
	for n > 0 && c.mu.entries[n-1].StartOffset >= end {
		n--
	}
	if n == len(c.mu.entries) {
		return nil
	}
	c.mu.entries = c.mu.entries[:n]
	return c.writeLocked()
}

// truncateFromStart forgets epochs wholly below start; the epoch that
// covers start now starts there. Writer only.
func (c *epochCache) truncateFromStart(start int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0
	for i+1 < len(c.mu.entries) && c.mu.entries[i+1].StartOffset <= start {
		i++
	}
	if len(c.mu.entries) == 0 || (i == 0 && c.mu.entries[0].StartOffset >= start) {
		return nil
	}
	c.mu.entries = c.mu.entries[i:]
	c.mu.entries[0].StartOffset = start
	return c.writeLocked()
}

// LeaderEpochs returns the leader-epoch checkpoint's entries.
func (l *Log) LeaderEpochs() []EpochEntry { return l.epochs.list() }

// AssignEpoch records that a new leader epoch starts at the log end offset
// (a new leader calls it before its first append, as Kafka does).
func (l *Log) AssignEpoch(epoch int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epochs.assign(epoch, l.tail.Load().next)
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch for this log: the largest
// known epoch <= epoch and the end offset of that epoch, or
// (UndefinedEpoch, UndefinedEpochOffset).
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return l.epochs.endOffsetFor(epoch, l.EndOffset())
}

// writeOffsetFile and readOffsetFile keep one offset in a small text file
// (the recovery point, the log start offset).
func writeOffsetFile(fs vfs.FS, path string, off int64) error {
	return vfs.WriteFileAtomic(fs, path, strconv.AppendInt(nil, off, 10))
}

func readOffsetFile(fs vfs.FS, path string) (int64, bool, error) {
	ok, err := fs.Exists(path)
	if err != nil || !ok {
		return 0, false, err
	}
	data, err := vfs.ReadFile(fs, path)
	if err != nil {
		return 0, false, err
	}
	off, err := strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
	if err != nil || off < 0 {
		return 0, false, fmt.Errorf("%w: %s: %q", ErrCorruptCheckpoint, path, data)
	}
	return off, true, nil
}
