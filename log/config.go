package log

import (
	"fmt"
	stdlog "log/slog"
	"strings"
	"time"

	"github.com/runnel-io/runnel/log/vfs"
)

// CleanupPolicy says what happens to old records: deleted by retention,
// compacted to the last record of each key, or both.
type CleanupPolicy uint8

// The cleanup policies, named as Kafka's cleanup.policy values.
const (
	CleanupDelete        CleanupPolicy = 1 << iota // "delete"
	CleanupCompact                                 // "compact"
	CleanupCompactDelete = CleanupDelete | CleanupCompact
)

func (p CleanupPolicy) String() string {
	switch p {
	case CleanupDelete:
		return "delete"
	case CleanupCompact:
		return "compact"
	case CleanupCompactDelete:
		return "compact,delete"
	}
	return fmt.Sprintf("CleanupPolicy(%d)", uint8(p))
}

// ParseCleanupPolicy parses Kafka's cleanup.policy syntax.
func ParseCleanupPolicy(s string) (CleanupPolicy, error) {
	var p CleanupPolicy
	for _, part := range strings.Split(s, ",") {
		switch strings.TrimSpace(part) {
		case "delete":
			p |= CleanupDelete
		case "compact":
			p |= CleanupCompact
		default:
			return 0, fmt.Errorf("log: unknown cleanup.policy %q", s)
		}
	}
	return p, nil
}

// Config holds a log's settings, named after the Kafka topic configs they
// implement. The zero value of a field means "the default" only through
// DefaultConfig; Open validates every field.
type Config struct {
	SegmentBytes       int64         // segment.bytes: roll the active segment past this size
	SegmentTime        time.Duration // segment.ms: roll a non-empty segment this old; 0 = never
	IndexIntervalBytes int           // index.interval.bytes: bytes between index entries
	RetentionTime      time.Duration // retention.ms: delete segments older than this; <0 = forever
	RetentionBytes     int64         // retention.bytes: keep at most this many bytes; <0 = no limit
	CleanupPolicy      CleanupPolicy // cleanup.policy
	DeleteRetention    time.Duration // delete.retention.ms: how long tombstones survive compaction
	MinCompactionLag   time.Duration // min.compaction.lag.ms: records younger than this are not compacted
	FlushMessages      int64         // flush.messages: fsync after this many records; 0 = leave it to the OS
	FlushInterval      time.Duration // flush.ms: fsync when the last one is this old; 0 = leave it to the OS
	MaxBatchBytes      int           // max.message.bytes: largest batch accepted
}

// Kafka's defaults.
const (
	DefaultSegmentBytes       = 1 << 30
	DefaultIndexIntervalBytes = 4096
	DefaultRetentionTime      = 7 * 24 * time.Hour
	DefaultDeleteRetention    = 24 * time.Hour
	DefaultMaxBatchBytes      = 1048588
)

// DefaultConfig returns Kafka's defaults: 1 GiB segments, 7-day retention
// by time and none by size, cleanup.policy=delete, flushing left to the OS.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       DefaultSegmentBytes,
		SegmentTime:        7 * 24 * time.Hour,
		IndexIntervalBytes: DefaultIndexIntervalBytes,
		RetentionTime:      DefaultRetentionTime,
		RetentionBytes:     -1,
		CleanupPolicy:      CleanupDelete,
		DeleteRetention:    DefaultDeleteRetention,
		MaxBatchBytes:      DefaultMaxBatchBytes,
	}
}

// maxSegmentBytes keeps positions within the index's 32 bits.
const maxSegmentBytes = 1<<31 - 1

// Validate reports the first setting that is out of range.
func (c *Config) Validate() error {
	switch {
	case c.SegmentBytes < 14 || c.SegmentBytes > maxSegmentBytes:
		return fmt.Errorf("log: segment.bytes %d out of range [14, %d]", c.SegmentBytes, maxSegmentBytes)
	case c.SegmentTime < 0:
		return fmt.Errorf("log: segment.ms %v is negative", c.SegmentTime)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("log: index.interval.bytes %d is negative", c.IndexIntervalBytes)
	case c.CleanupPolicy&CleanupCompactDelete == 0 || c.CleanupPolicy&^CleanupCompactDelete != 0:
		return fmt.Errorf("log: invalid cleanup.policy %v", c.CleanupPolicy)
	case c.DeleteRetention < 0:
		return fmt.Errorf("log: delete.retention.ms %v is negative", c.DeleteRetention)
	case c.MinCompactionLag < 0:
		return fmt.Errorf("log: min.compaction.lag.ms %v is negative", c.MinCompactionLag)
	case c.FlushMessages < 0:
		return fmt.Errorf("log: flush.messages %d is negative", c.FlushMessages)
	case c.FlushInterval < 0:
		return fmt.Errorf("log: flush.ms %v is negative", c.FlushInterval)
	case c.MaxBatchBytes < BatchHeaderSize:
		return fmt.Errorf("log: max.message.bytes %d is smaller than a batch header", c.MaxBatchBytes)
	}
	return nil
}

// Option configures Open.
type Option func(*options)

type options struct {
	cfg    Config
	fs     vfs.FS
	logger *stdlog.Logger
	now    func() time.Time
}

// WithConfig sets the log's settings (default: DefaultConfig()).
func WithConfig(c Config) Option { return func(o *options) { o.cfg = c } }

// WithFS sets the filesystem (default: vfs.Default).
func WithFS(fs vfs.FS) Option { return func(o *options) { o.fs = fs } }

// WithLogger sets where recovery and maintenance report (default:
// slog.Default()).
func WithLogger(l *stdlog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock used for segment.ms, retention.ms, flush.ms and
// tombstone expiry (default: time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }
