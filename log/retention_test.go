package log

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel-io/runnel/log/vfs"
)

// Helpers shared by the retention, compaction, epoch, time index and
// concurrency tests.

// clockStart is the fixed clock's starting time in these tests.
var clockStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func newClock() *fixedClock { return &fixedClock{t: clockStart} }

// logAppend appends b with leaderEpoch and fails the test on error.
func logAppend(t testing.TB, l *Log, b []byte, leaderEpoch int32) AppendResult {
	t.Helper()
	res, err := l.Append(b, leaderEpoch)
	if err != nil {
		t.Fatalf("append at %d: %v", l.EndOffset(), err)
	}
	return res
}

// logRoll seals the active segment and starts a new one, as a full or old
// segment would be. The active segment must not be empty.
func logRoll(t testing.TB, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tail.Load().size == 0 {
		t.Fatalf("roll of an empty active segment")
	}
	if _, err := l.rollLocked(); err != nil {
		t.Fatalf("roll: %v", err)
	}
}

// logCommit moves the high watermark to the log end, as a single node does.
func logCommit(l *Log) { l.SetHighWatermark(l.EndOffset()) }

// logSegBases lists the segments' base offsets.
func logSegBases(l *Log) []int64 {
	var out []int64
	for _, s := range *l.segs.Load() {
		out = append(out, s.base)
	}
	return out
}

// logFiles lists the names in dir with the given suffix.
func logFiles(t testing.TB, l *Log, suffix string) []string {
	t.Helper()
	names, err := l.fs.List(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, suffix) {
			out = append(out, n)
		}
	}
	return out
}

// logRec is a decoded record with its absolute offset and timestamp.
type logRec struct {
	Off, Ts    int64
	Key, Value []byte
}

func (r logRec) String() string {
	v := "<tombstone>"
	if r.Value != nil {
		v = string(r.Value)
	}
	return fmt.Sprintf("%d:%s=%s", r.Off, r.Key, v)
}

// batchRecs decodes a batch into recs.
func batchRecs(t testing.TB, b []byte) []logRec {
	t.Helper()
	h, rs, err := DecodeRecords(b)
	if err != nil {
		t.Fatalf("decode batch: %v", err)
	}
	out := make([]logRec, 0, len(rs))
	for _, r := range rs {
		ts := h.BaseTimestamp + r.TimestampDelta
		if h.LogAppendTime() {
			ts = h.MaxTimestamp
		}
		out = append(out, logRec{Off: h.BaseOffset + int64(r.OffsetDelta), Ts: ts,
			Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)})
	}
	return out
}

// logRecords reads and decodes every record from the log start to the high
// watermark, checking every batch and that offsets strictly increase.
func logRecords(t testing.TB, l *Log) []logRec {
	t.Helper()
	var out []logRec
	for _, b := range readAllBatches(t, l, l.HighWatermark()) {
		if _, err := ValidateBatch(b); err != nil {
			t.Fatalf("read an invalid batch: %v", err)
		}
		for _, r := range batchRecs(t, b) {
			if n := len(out); n > 0 && r.Off <= out[n-1].Off {
				t.Fatalf("offset %d after %d", r.Off, out[n-1].Off)
			}
			out = append(out, r)
		}
	}
	return out
}

// recordsString renders records compactly for comparisons.
func recordsString(rs []logRec) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, " ")
}

// kvs builds records from alternating keys and values; a value "~" is a
// tombstone and a key "" is a null key.
func kvs(pairs ...string) []Record {
	recs := make([]Record, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		r := Record{OffsetDelta: int32(i / 2)}
		if pairs[i] != "" {
			r.Key = []byte(pairs[i])
		}
		if pairs[i+1] != "~" {
			r.Value = []byte(pairs[i+1])
		}
		recs = append(recs, r)
	}
	return recs
}

// appendSegments appends, per segment, batches of perBatch records with
// timestamp tsOf(segment), rolling after each segment but the last. It
// returns the segments' base offsets.
func appendSegments(t testing.TB, l *Log, segments, batches, perBatch int, tsOf func(int) int64) []int64 {
	t.Helper()
	var bases []int64
	for s := range segments {
		bases = append(bases, l.EndOffset())
		for range batches {
			logAppend(t, l, testBatch(t, CompressionNone, perBatch, tsOf(s)), -1)
		}
		if s < segments-1 {
			logRoll(t, l)
		}
	}
	logCommit(l)
	return bases
}

func wantOutOfRange(t testing.TB, l *Log, off int64) {
	t.Helper()
	if _, err := l.Read(off, ReadLimit{MaxBytes: 1 << 20, MaxOffset: l.EndOffset(), MinOne: true}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read at %d (start %d): got %v, want ErrOffsetOutOfRange", off, l.StartOffset(), err)
	}
}

// wantReadAt checks that a read at off returns a batch holding off.
func wantReadAt(t testing.TB, l *Log, off int64) {
	t.Helper()
	buf, err := l.ReadBatches(off, 1<<20, l.EndOffset())
	if err != nil {
		t.Fatalf("read at %d: %v", off, err)
	}
	h, _, ok := NewBatchIter(buf).Next()
	if !ok || h.BaseOffset > off || h.LastOffset() < off {
		t.Fatalf("read at %d: got batch [%d, %d] ok=%v", off, h.BaseOffset, h.LastOffset(), ok)
	}
}

func TestRetentionTime(t *testing.T) {
	clk := newClock()
	cfg := smallConfig()
	cfg.RetentionTime = 3 * time.Hour
	l := openTestLog(t, t.TempDir(), WithConfig(cfg), WithClock(clk.now))
	defer l.Close()
	// Segment s holds records stamped s hours after clockStart, except that
	// segment 3 is old again: deletion stops at the first young segment,
	// and the active segment (5) is old but must stay.
	hours := []int64{0, 1, 2, 6, 0, 0}
	bases := appendSegments(t, l, len(hours), 4, 5, func(s int) int64 {
		return clockStart.Add(time.Duration(hours[s]) * time.Hour).UnixMilli()
	})
	clk.advance(5 * time.Hour) // cutoff clockStart+2h: segments 0 and 1 are older

	n, err := l.EnforceRetention()
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || l.StartOffset() != bases[2] || !slices.Equal(logSegBases(l), bases[2:]) {
		t.Fatalf("deleted %d, start %d, segments %v; want 2, %d, %v", n, l.StartOffset(), logSegBases(l), bases[2], bases[2:])
	}
	if got := logFiles(t, l, ".log"); len(got) != len(bases)-2 {
		t.Fatalf("segment files %v", got)
	}
	wantOutOfRange(t, l, bases[2]-1)
	wantOutOfRange(t, l, 0)
	wantReadAt(t, l, bases[2])
	if recs := logRecords(t, l); recs[0].Off != bases[2] || int64(len(recs)) != l.EndOffset()-bases[2] {
		t.Fatalf("read %d records from %d", len(recs), recs[0].Off)
	}

	// Segment 2 (largest timestamp clockStart+2h+4ms) expires only once strictly
	// older than the cutoff.
	clk.advance(4 * time.Millisecond)
	if n, err := l.EnforceRetention(); err != nil || n != 0 {
		t.Fatalf("at the boundary: deleted %d, %v", n, err)
	}
	clk.advance(time.Millisecond)
	if n, err := l.EnforceRetention(); err != nil || n != 1 || l.StartOffset() != bases[3] {
		t.Fatalf("past the boundary: deleted %d, start %d, %v", n, l.StartOffset(), err)
	}

	// Far in the future every closed segment goes, the active one stays.
	clk.advance(365 * 24 * time.Hour)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(logSegBases(l), bases[5:]) || l.StartOffset() != bases[5] {
		t.Fatalf("segments %v start %d, want only the active %d", logSegBases(l), l.StartOffset(), bases[5])
	}
	wantReadAt(t, l, bases[5])
	res := logAppend(t, l, testBatch(t, CompressionNone, 1, clk.t.UnixMilli()), -1)
	if res.BaseOffset != bases[5]+20 {
		t.Fatalf("append after retention at %d", res.BaseOffset)
	}
}

func TestRetentionRespectsHighWatermark(t *testing.T) {
	clk := newClock()
	cfg := smallConfig()
	cfg.RetentionTime = time.Hour
	l := openTestLog(t, t.TempDir(), WithConfig(cfg), WithClock(clk.now))
	defer l.Close()
	bases := appendSegments(t, l, 4, 2, 5, func(int) int64 { return clockStart.UnixMilli() })
	clk.advance(10 * time.Hour)
	// Segment 1 holds uncommitted records: neither it nor later ones go.
	l.SetHighWatermark(bases[1] + 3)
	if n, err := l.EnforceRetention(); err != nil || n != 1 || l.StartOffset() != bases[1] {
		t.Fatalf("deleted %d, start %d, %v; want 1, %d", n, l.StartOffset(), err, bases[1])
	}
}

func TestRetentionBytes(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionTime = -1
	cfg.SegmentBytes = 4 << 10
	l := openTestLog(t, t.TempDir(), WithConfig(cfg))
	defer l.Close()
	for i := range 600 {
		logAppend(t, l, testBatch(t, CompressionNone, 1+i%4, int64(i)), -1)
	}
	logCommit(l)
	if l.NumSegments() < 10 {
		t.Fatalf("only %d segments", l.NumSegments())
	}
	maxSeg := int64(0)
	for _, s := range *l.segs.Load() {
		maxSeg = max(maxSeg, s.size.Load())
	}
	end := l.EndOffset()
	for _, limit := range []int64{40 << 10, 17 << 10, 5 << 10, 0} {
		cfg.RetentionBytes = limit
		if err := l.SetConfig(cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := l.EnforceRetention(); err != nil {
			t.Fatal(err)
		}
		segs := *l.segs.Load()
		if size := l.Size(); size > limit+maxSeg {
			t.Fatalf("limit %d: size %d exceeds limit + one segment (%d)", limit, size, maxSeg)
		}
		// Deleting one more closed segment would have been allowed only if
		// it left the log at or under the limit: it did not.
		if len(segs) > 1 && l.Size()-segs[0].size.Load() >= limit {
			t.Fatalf("limit %d: size %d, could have deleted %d more bytes", limit, l.Size(), segs[0].size.Load())
		}
		if l.StartOffset() != segs[0].base || l.EndOffset() != end || segs[len(segs)-1] != l.tail.Load().seg {
			t.Fatalf("limit %d: start %d (first segment %d), end %d", limit, l.StartOffset(), segs[0].base, l.EndOffset())
		}
		wantOutOfRange(t, l, l.StartOffset()-1)
		wantReadAt(t, l, l.StartOffset())
	}
	if l.NumSegments() != 1 {
		t.Fatalf("retention.bytes 0 left %d segments, want the active one", l.NumSegments())
	}
}

func TestRetentionCompactPolicyDoesNotDelete(t *testing.T) {
	clk := newClock()
	cfg := smallConfig()
	cfg.CleanupPolicy = CleanupCompact
	cfg.SegmentTime = 0
	cfg.RetentionTime = time.Millisecond
	cfg.RetentionBytes = 0
	l := openTestLog(t, t.TempDir(), WithConfig(cfg), WithClock(clk.now))
	defer l.Close()
	bases := appendSegments(t, l, 4, 3, 4, func(int) int64 { return 0 })
	clk.advance(1000 * time.Hour)
	if n, err := l.EnforceRetention(); err != nil || n != 0 {
		t.Fatalf("compact policy: deleted %d, %v", n, err)
	}
	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(logSegBases(l), bases) || l.StartOffset() != 0 {
		t.Fatalf("segments %v, start %d; want %v, 0", logSegBases(l), l.StartOffset(), bases)
	}
	// compact,delete deletes.
	cfg.CleanupPolicy = CleanupCompactDelete
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if n, err := l.EnforceRetention(); err != nil || n != 3 {
		t.Fatalf("compact,delete: deleted %d, %v", n, err)
	}
}

func TestDeleteRecords(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, WithConfig(smallConfig()))
	// Batches of 5 records, 4 per segment: segments of 20 offsets.
	bases := appendSegments(t, l, 5, 4, 5, func(int) int64 { return 1000 })
	end := l.EndOffset()

	// Below the start: nothing changes.
	if err := l.DeleteRecords(0); err != nil || l.StartOffset() != 0 {
		t.Fatalf("delete to 0: %v, start %d", err, l.StartOffset())
	}
	// Mid-batch in segment 2: segments 0 and 1 go, segment 2 stays.
	off := bases[2] + 7
	if err := l.DeleteRecords(off); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != off || !slices.Equal(logSegBases(l), bases[2:]) {
		t.Fatalf("start %d, segments %v; want %d, %v", l.StartOffset(), logSegBases(l), off, bases[2:])
	}
	wantOutOfRange(t, l, off-1)
	wantOutOfRange(t, l, bases[2])
	wantReadAt(t, l, off)
	if recs := logRecords(t, l); recs[0].Off != bases[2]+5 {
		// The batch holding off is returned whole.
		t.Fatalf("first record read %d, want %d", recs[0].Off, bases[2]+5)
	}
	// Going backwards is a no-op.
	if err := l.DeleteRecords(off - 3); err != nil || l.StartOffset() != off {
		t.Fatalf("delete backwards: %v, start %d", err, l.StartOffset())
	}

	// Not past the high watermark.
	l.SetHighWatermark(bases[3] + 2)
	if err := l.DeleteRecords(bases[3] + 3); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("delete past the high watermark: %v", err)
	}
	logCommit(l)
	if err := l.DeleteRecords(end + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("delete past the end: %v", err)
	}
	if l.StartOffset() != off {
		t.Fatalf("failed deletes moved the start to %d", l.StartOffset())
	}

	// Exactly at a segment base: the segment before goes.
	if err := l.DeleteRecords(bases[3]); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(logSegBases(l), bases[3:]) {
		t.Fatalf("segments %v, want %v", logSegBases(l), bases[3:])
	}

	// The start offset survives a restart.
	off = bases[3] + 12
	if err := l.DeleteRecords(off); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if data, err := readOffsetFileT(t, filepath.Join(dir, logStartFile)); err != nil || data != off {
		t.Fatalf("log-start-offset file holds %d, %v; want %d", data, err, off)
	}
	l = openTestLog(t, dir, WithConfig(smallConfig()))
	defer l.Close()
	if l.StartOffset() != off || l.EndOffset() != end {
		t.Fatalf("after reopen: start %d end %d, want %d %d", l.StartOffset(), l.EndOffset(), off, end)
	}
	logCommit(l)
	wantOutOfRange(t, l, off-1)
	wantReadAt(t, l, off)

	// Up to the end: every closed segment goes; the log goes on from there.
	if err := l.DeleteRecords(end); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != end || l.NumSegments() != 1 {
		t.Fatalf("delete to the end: start %d, %d segments", l.StartOffset(), l.NumSegments())
	}
	wantOutOfRange(t, l, end-1)
	if res := logAppend(t, l, testBatch(t, CompressionNone, 2, 1000), -1); res.BaseOffset != end {
		t.Fatalf("append after deleting everything at %d, want %d", res.BaseOffset, end)
	}
}

func readOffsetFileT(t testing.TB, path string) (int64, error) {
	t.Helper()
	off, ok, err := readOffsetFile(vfs.Default, path)
	if err == nil && !ok {
		err = fmt.Errorf("%s missing", path)
	}
	return off, err
}

func TestSegmentMsRollsOnAppendAndMaintain(t *testing.T) {
	clk := newClock()
	cfg := smallConfig()
	cfg.SegmentTime = time.Hour
	cfg.RetentionTime = -1
	dir := t.TempDir()
	l := openTestLog(t, dir, WithConfig(cfg), WithClock(clk.now))
	app := func() AppendResult {
		return logAppend(t, l, testBatch(t, CompressionNone, 2, clk.t.UnixMilli()), -1)
	}
	app()
	clk.advance(30 * time.Minute)
	app()
	if l.NumSegments() != 1 {
		t.Fatalf("rolled a 30-minute-old segment: %d segments", l.NumSegments())
	}
	clk.advance(30 * time.Minute)
	res := app()
	if l.NumSegments() != 2 || !slices.Equal(logSegBases(l), []int64{0, 4}) || res.BaseOffset != 4 {
		t.Fatalf("append into an hour-old segment: segments %v, base %d", logSegBases(l), res.BaseOffset)
	}

	// Maintain rolls an old segment without an append, and never an empty
	// one.
	clk.advance(59 * time.Minute)
	if err := l.Maintain(); err != nil || l.NumSegments() != 2 {
		t.Fatalf("maintain before segment.ms: %v, %d segments", err, l.NumSegments())
	}
	clk.advance(time.Minute)
	if err := l.Maintain(); err != nil || !slices.Equal(logSegBases(l), []int64{0, 4, 6}) {
		t.Fatalf("maintain after segment.ms: %v, segments %v", err, logSegBases(l))
	}
	clk.advance(3 * time.Hour)
	if err := l.Maintain(); err != nil || l.NumSegments() != 3 {
		t.Fatalf("maintain rolled an empty segment: %v, segments %v", err, logSegBases(l))
	}
	app()
	if l.NumSegments() != 3 {
		t.Fatalf("the first append into an empty segment rolled: %v", logSegBases(l))
	}

	// A restart does not make the active segment old: its age counts from
	// no earlier than the restart.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	clk.advance(10 * time.Minute)
	l = openTestLog(t, dir, WithConfig(cfg), WithClock(clk.now))
	defer l.Close()
	app()
	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 3 {
		t.Fatalf("after a restart a young segment rolled: segments %v", logSegBases(l))
	}
	clk.advance(time.Hour)
	app()
	if l.NumSegments() != 4 {
		t.Fatalf("after a restart an old segment did not roll: segments %v", logSegBases(l))
	}
}

func TestRetentionReaderKeepsDeletedSegment(t *testing.T) {
	clk := newClock()
	cfg := smallConfig()
	cfg.RetentionTime = time.Hour
	l := openTestLog(t, t.TempDir(), WithConfig(cfg), WithClock(clk.now))
	defer l.Close()
	var want []byte
	for range 10 {
		b := testBatch(t, CompressionGzip, 7, clockStart.UnixMilli())
		logAppend(t, l, b, -1)
		want = append(want, b...)
	}
	logRoll(t, l)
	logAppend(t, l, testBatch(t, CompressionNone, 1, clockStart.Add(5*time.Hour).UnixMilli()), -1)
	logCommit(l)
	l.bg.Wait() // the roll's background flush holds a reference for a while

	sl, err := l.Read(0, ReadLimit{MaxBytes: 1 << 20, MaxOffset: l.HighWatermark()})
	if err != nil {
		t.Fatal(err)
	}
	sl2, err := l.Read(30, ReadLimit{MaxBytes: 1 << 20, MaxOffset: l.HighWatermark()})
	if err != nil {
		t.Fatal(err)
	}
	seg := sl.seg
	if sl.Len() != len(want) || seg != sl2.seg {
		t.Fatalf("slice of %d bytes, want the whole first segment (%d)", sl.Len(), len(want))
	}
	clk.advance(2 * time.Hour)
	if n, err := l.EnforceRetention(); err != nil || n != 1 {
		t.Fatalf("retention deleted %d, %v", n, err)
	}
	if files := logFiles(t, l, ".log"); len(files) != 1 || files[0] != segmentName(70)+".log" {
		t.Fatalf("files after retention: %v", files)
	}
	got, err := sl.AppendTo(nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read of a deleted segment: %d bytes, %v", len(got), err)
	}
	var w bytes.Buffer
	if n, err := sl.WriteTo(&w); err != nil || n != int64(len(want)) || !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("WriteTo of a deleted segment: %d, %v", n, err)
	}
	sl.Close()
	sl.Close() // twice is safe
	if seg.refs.Load() != 1 {
		t.Fatalf("references after one reader closed: %d, want 1", seg.refs.Load())
	}
	if got, err := sl2.AppendTo(nil); err != nil || !bytes.Equal(got, want[len(want)-len(got):]) {
		t.Fatalf("second reader: %v", err)
	}
	sl2.Close()
	if seg.refs.Load() != 0 {
		t.Fatalf("references after every reader closed: %d, want 0", seg.refs.Load())
	}
	if seg.tryRef() {
		t.Fatalf("a released segment could be referenced again")
	}
	wantOutOfRange(t, l, 0)
}

// truncLog builds segments [0,30) epoch 1, [30,60) epoch 2 and an active
// [60,90) epoch 3, in batches of 5 records.
func truncLog(t *testing.T, dir string) *Log {
	l := openTestLog(t, dir, WithConfig(smallConfig()))
	for seg := range 3 {
		for range 6 {
			logAppend(t, l, testBatch(t, CompressionNone, 5, int64(1000*seg)), int32(seg+1))
		}
		if seg < 2 {
			logRoll(t, l)
		}
	}
	logCommit(l)
	return l
}

// wantContiguous checks that the log holds exactly offsets [0, end).
func wantContiguous(t *testing.T, l *Log, end int64) {
	t.Helper()
	if l.EndOffset() != end {
		t.Fatalf("end %d, want %d", l.EndOffset(), end)
	}
	logCommit(l)
	recs := logRecords(t, l)
	if int64(len(recs)) != end {
		t.Fatalf("%d records, want %d", len(recs), end)
	}
	for i, r := range recs {
		if r.Off != int64(i) {
			t.Fatalf("record %d at offset %d", i, r.Off)
		}
	}
}

func TestTruncateTo(t *testing.T) {
	dir := t.TempDir()
	l := truncLog(t, dir)
	defer func() { l.Close() }()

	// Beyond the end: nothing to do.
	if err := l.TruncateTo(100); err != nil || l.EndOffset() != 90 {
		t.Fatalf("truncate past the end: %v, end %d", err, l.EndOffset())
	}

	// Inside the active segment, on a batch boundary.
	if err := l.TruncateTo(75); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(logSegBases(l), []int64{0, 30, 60}) || l.HighWatermark() != 75 {
		t.Fatalf("segments %v, high watermark %d", logSegBases(l), l.HighWatermark())
	}
	wantContiguous(t, l, 75)
	if res := logAppend(t, l, testBatch(t, CompressionNone, 5, 1), 3); res.BaseOffset != 75 {
		t.Fatalf("append after truncation at %d", res.BaseOffset)
	}

	// Mid-batch inside a sealed segment: the batch [40,45) goes whole and
	// the segment after it is removed.
	if err := l.TruncateTo(42); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(logSegBases(l), []int64{0, 30}) {
		t.Fatalf("segments %v, want [0 30]", logSegBases(l))
	}
	if files := logFiles(t, l, ".log"); len(files) != 2 {
		t.Fatalf("segment files %v", files)
	}
	if l.HighWatermark() != 40 || l.RecoveryPoint() > 40 {
		t.Fatalf("high watermark %d, recovery point %d; want both <= 40", l.HighWatermark(), l.RecoveryPoint())
	}
	wantEpochs(t, l, []EpochEntry{{1, 0}, {2, 30}})
	wantContiguous(t, l, 40)
	wantReadAt(t, l, 39)
	wantOutOfRange(t, l, 41)

	// The truncated segment is active again: appends go on there.
	for i := range 8 {
		res := logAppend(t, l, testBatch(t, CompressionLZ4, 5, 5000), 4)
		if res.BaseOffset != 40+int64(5*i) {
			t.Fatalf("append %d after truncation at %d", i, res.BaseOffset)
		}
	}
	if !slices.Equal(logSegBases(l), []int64{0, 30}) {
		t.Fatalf("segments after appends %v", logSegBases(l))
	}
	wantEpochs(t, l, []EpochEntry{{1, 0}, {2, 30}, {4, 40}})
	wantContiguous(t, l, 80)

	// Exactly at a segment base: that segment goes.
	if err := l.TruncateTo(30); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(logSegBases(l), []int64{0}) {
		t.Fatalf("segments %v, want [0]", logSegBases(l))
	}
	wantEpochs(t, l, []EpochEntry{{1, 0}})
	wantContiguous(t, l, 30)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// It all survives a restart.
	l = openTestLog(t, dir, WithConfig(smallConfig()))
	wantEpochs(t, l, []EpochEntry{{1, 0}})
	wantContiguous(t, l, 30)
	if res := logAppend(t, l, testBatch(t, CompressionNone, 3, 1), 5); res.BaseOffset != 30 {
		t.Fatalf("append after reopen at %d", res.BaseOffset)
	}
	wantContiguous(t, l, 33)
	wantEpochs(t, l, []EpochEntry{{1, 0}, {5, 30}})
}

func TestTruncateToBelowStart(t *testing.T) {
	l := truncLog(t, t.TempDir())
	defer l.Close()
	if err := l.DeleteRecords(35); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, []EpochEntry{{2, 35}, {3, 60}})
	if err := l.TruncateTo(20); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("truncate below the start: %v", err)
	}
	if l.EndOffset() != 90 || l.StartOffset() != 35 {
		t.Fatalf("refused truncation changed the log: [%d, %d)", l.StartOffset(), l.EndOffset())
	}
	// To the start itself: the log is empty and goes on from there.
	if err := l.TruncateTo(35); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 35 || l.StartOffset() != 35 || l.HighWatermark() != 35 {
		t.Fatalf("start %d, end %d, high watermark %d; want 35", l.StartOffset(), l.EndOffset(), l.HighWatermark())
	}
	wantEpochs(t, l, nil) // no epoch has records below the end
	if res := logAppend(t, l, testBatch(t, CompressionNone, 1, 1), 6); res.BaseOffset != 35 {
		t.Fatalf("append at %d", res.BaseOffset)
	}
}

func TestTruncateToCrashReopen(t *testing.T) {
	dir := t.TempDir()
	l := truncLog(t, dir)
	if err := l.TruncateTo(52); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l.bg.Wait()
	// No Close: the next Open recovers as after a crash.
	l2 := openTestLog(t, dir, WithConfig(smallConfig()))
	defer l2.Close()
	wantContiguous(t, l2, 50)
	wantEpochs(t, l2, []EpochEntry{{1, 0}, {2, 30}})
	if res := logAppend(t, l2, testBatch(t, CompressionNone, 1, 1), 2); res.BaseOffset != 50 {
		t.Fatalf("append after crash at %d", res.BaseOffset)
	}
}

// TestTruncateToSealedAfterReopen: a sealed segment loaded by Open that
// truncation makes active again is young for segment.ms, not as old as
// the epoch.
func TestTruncateToSealedAfterReopen(t *testing.T) {
	dir := t.TempDir()
	l := truncLog(t, dir)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	cfg := smallConfig()
	cfg.SegmentTime = time.Hour
	l = openTestLog(t, dir, WithConfig(cfg), WithClock(clk.now))
	defer l.Close()
	if err := l.TruncateTo(45); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute)
	logAppend(t, l, testBatch(t, CompressionNone, 5, clk.t.UnixMilli()), 2)
	if !slices.Equal(logSegBases(l), []int64{0, 30}) {
		t.Fatalf("append after truncation rolled a young segment: %v", logSegBases(l))
	}
	wantContiguous(t, l, 50)
	clk.advance(time.Hour)
	logAppend(t, l, testBatch(t, CompressionNone, 5, clk.t.UnixMilli()), 2)
	if !slices.Equal(logSegBases(l), []int64{0, 30, 50}) {
		t.Fatalf("an hour later the segment did not roll: %v", logSegBases(l))
	}
}
