package log

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/runnel-io/runnel/log/vfs"
)

// testBatch builds a RecordBatch of n records "key-<i>"/"value-<i>" with
// timestamps starting at ts.
func testBatch(t testing.TB, c Compression, n int, ts int64) []byte {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i),
			Key: fmt.Appendf(nil, "key-%d", i), Value: fmt.Appendf(nil, "value-%d", i)}
	}
	return testBatchOf(t, c, ts, recs)
}

// testBatchOf builds a RecordBatch of the given records.
func testBatchOf(t testing.TB, c Compression, ts int64, recs []Record) []byte {
	t.Helper()
	maxTs := ts
	for _, r := range recs {
		maxTs = max(maxTs, ts+r.TimestampDelta)
	}
	h := BatchHeader{BaseTimestamp: ts, MaxTimestamp: maxTs, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LeaderEpoch: -1}
	b, err := AppendBatch(nil, h, recs, c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kvBatch builds a batch of one record with the given key and value
// (nil value: a tombstone).
func kvBatch(t testing.TB, key, value []byte, ts int64) []byte {
	t.Helper()
	return testBatchOf(t, CompressionNone, ts, []Record{{Key: key, Value: value}})
}

// quietLogger discards log output unless the test fails, then it is shown.
func quietLogger(t testing.TB) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log output:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// smallConfig is DefaultConfig with small segments and a dense index.
func smallConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 64 << 10
	c.IndexIntervalBytes = 512
	return c
}

func openTestLog(t testing.TB, dir string, opts ...Option) *Log {
	t.Helper()
	logger, _ := quietLogger(t)
	l, err := Open(dir, append([]Option{WithLogger(logger)}, opts...)...)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

// readAllBatches reads the log from its start to maxOffset, batch by batch.
func readAllBatches(t testing.TB, l *Log, maxOffset int64) [][]byte {
	t.Helper()
	var out [][]byte
	off := l.StartOffset()
	for off < maxOffset {
		buf, err := l.ReadBatches(off, 64<<10, maxOffset)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(buf) == 0 {
			break
		}
		it := NewBatchIter(buf)
		for {
			h, b, ok := it.Next()
			if !ok {
				break
			}
			out = append(out, bytes.Clone(b))
			off = h.NextOffset()
		}
		if it.Err() != nil {
			t.Fatalf("iterate at %d: %v", off, it.Err())
		}
	}
	return out
}

// fixedClock is a settable clock.
type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time          { return c.t }
func (c *fixedClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// noSyncFS skips fsyncs, for tests (fuzzing) that check logic, not
// durability, and should not wait for the disk.
type noSyncFS struct{ vfs.FS }

type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error { return nil }

func (f noSyncFS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return noSyncFile{file}, nil
}

func (f noSyncFS) Create(name string) (vfs.File, error) { return f.wrap(f.FS.Create(name)) }
func (f noSyncFS) OpenReadWrite(name string) (vfs.File, error) {
	return f.wrap(f.FS.OpenReadWrite(name))
}
func (f noSyncFS) Open(name string) (vfs.File, error) { return f.wrap(f.FS.Open(name)) }
func (noSyncFS) SyncDir(string) error                 { return nil }
