package log

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// compactConfig is smallConfig with cleanup.policy=compact, no time-based
// roll and a dense index.
func compactConfig() Config {
	c := smallConfig()
	c.CleanupPolicy = CleanupCompact
	c.SegmentTime = 0
	c.IndexIntervalBytes = 64
	return c
}

func logCompact(t testing.TB, l *Log) CompactStats {
	t.Helper()
	st, err := l.Compact()
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	return st
}

func wantRecords(t testing.TB, l *Log, want string) {
	t.Helper()
	if got := recordsString(logRecords(t, l)); got != want {
		t.Fatalf("records:\n got %s\nwant %s", got, want)
	}
}

// firstRecordAt reads at off and returns the first record at or after off.
func firstRecordAt(t testing.TB, l *Log, off int64) (logRec, bool) {
	t.Helper()
	buf, err := l.ReadBatches(off, 1<<20, l.HighWatermark())
	if err != nil {
		t.Fatalf("read at %d: %v", off, err)
	}
	it := NewBatchIter(buf)
	for {
		_, b, ok := it.Next()
		if !ok {
			return logRec{}, false
		}
		for _, r := range batchRecs(t, b) {
			if r.Off >= off {
				return r, true
			}
		}
	}
}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	clk := newClock()
	l := openTestLog(t, t.TempDir(), WithConfig(compactConfig()), WithClock(clk.now))
	defer l.Close()
	ts := clk.t.UnixMilli()
	app := func(pairs ...string) { logAppend(t, l, testBatchOf(t, CompressionNone, ts, kvs(pairs...)), 1) }
	app("a", "a0")                   // 0
	app("b", "b0", "c", "c0")        // 1, 2
	app("a", "a1")                   // 3
	logRoll(t, l)                    //
	app("", "n0", "b", "b1")         // 4 (no key), 5
	app("d", "d0", "", "n1")         // 6, 7
	logRoll(t, l)                    //
	app("a", "a2", "b", "~", "", "") // 8, 9, 10: the active segment
	logCommit(l)
	active, err := l.ReadBatches(8, 1<<20, l.EndOffset())
	if err != nil {
		t.Fatal(err)
	}

	st := logCompact(t, l)
	if st.Segments != 2 || st.Rewritten != 1 || st.RecordsRemoved != 2 || st.BytesAfter >= st.BytesBefore {
		t.Fatalf("stats %+v", st)
	}
	// Keys are compacted across segments; the active segment's newer
	// records do not count (it is not compacted); null keys stay.
	wantRecords(t, l, "2:c=c0 3:a=a1 4:=n0 5:b=b1 6:d=d0 7:=n1 8:a=a2 9:b=<tombstone> 10:=")
	if got, err := l.ReadBatches(8, 1<<20, l.EndOffset()); err != nil || !bytes.Equal(got, active) {
		t.Fatalf("the active segment changed: %v", err)
	}
	// Offsets in a gap read as the next surviving record; the rewritten
	// batch keeps its base offset.
	for off, want := range []int64{2, 2, 2, 3, 4, 5} {
		r, ok := firstRecordAt(t, l, int64(off))
		if !ok || r.Off != want {
			t.Fatalf("read at %d: first record %v (ok %v), want offset %d", off, r, ok, want)
		}
	}
	buf, err := l.ReadBatches(0, 1<<20, l.HighWatermark())
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := NewBatchIter(buf).Next()
	if h.BaseOffset != 1 || h.LastOffset() != 2 || h.RecordCount != 1 || h.LeaderEpoch != 1 {
		t.Fatalf("rewritten batch %+v", h)
	}
	if l.StartOffset() != 0 || l.EndOffset() != 11 {
		t.Fatalf("compaction moved the log's ends: [%d, %d)", l.StartOffset(), l.EndOffset())
	}
	// A second pass finds nothing to do.
	if st := logCompact(t, l); st.Rewritten != 0 || st.RecordsRemoved != 0 {
		t.Fatalf("second pass: %+v", st)
	}
}

func TestCompactOnlyBelowHighWatermark(t *testing.T) {
	l := openTestLog(t, t.TempDir(), WithConfig(compactConfig()))
	defer l.Close()
	for range 3 {
		logAppend(t, l, kvBatch(t, []byte("k"), []byte("v"), 1), -1)
		logRoll(t, l)
	}
	logAppend(t, l, kvBatch(t, []byte("k"), []byte("v"), 1), -1)
	// Segment [1, 2) is not wholly committed: neither it nor later ones
	// are compacted.
	l.SetHighWatermark(1)
	if st := logCompact(t, l); st.Segments != 1 || st.RecordsRemoved != 0 {
		t.Fatalf("stats %+v", st)
	}
	l.SetHighWatermark(2)
	if st := logCompact(t, l); st.Segments != 2 || st.RecordsRemoved != 1 {
		t.Fatalf("stats %+v", st)
	}
	logCommit(l)
	logCompact(t, l)
	wantRecords(t, l, "2:k=v 3:k=v")
}

func TestCompactCompressed(t *testing.T) {
	for _, c := range []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		t.Run(c.String(), func(t *testing.T) {
			l := openTestLog(t, t.TempDir(), WithConfig(compactConfig()))
			defer l.Close()
			var first, second []Record
			for i := range 10 {
				first = append(first, Record{OffsetDelta: int32(i), TimestampDelta: int64(i),
					Key: fmt.Appendf(nil, "k%d", i), Value: bytes.Repeat(fmt.Appendf(nil, "v1-%d.", i), 20),
					Headers: []RecordHeader{{Key: "h", Value: []byte{byte(i)}}}})
			}
			for i := range 5 {
				second = append(second, Record{OffsetDelta: int32(i), Key: fmt.Appendf(nil, "k%d", 2*i), Value: fmt.Appendf(nil, "v2-%d", 2*i)})
			}
			b1 := testBatchOf(t, c, 1000, first)
			b2 := testBatchOf(t, c, 2000, second)
			logAppend(t, l, b1, 7)
			logAppend(t, l, b2, 7)
			logRoll(t, l)
			logAppend(t, l, kvBatch(t, []byte("z"), []byte("z"), 3000), 7)
			logCommit(l)
			if st := logCompact(t, l); st.Rewritten != 1 || st.RecordsRemoved != 5 {
				t.Fatalf("stats %+v", st)
			}
			batches := readAllBatches(t, l, l.HighWatermark())
			if len(batches) != 3 || !bytes.Equal(batches[1], b2) {
				t.Fatalf("%d batches; the untouched batch is kept byte for byte: %v", len(batches), len(batches) > 1 && bytes.Equal(batches[1], b2))
			}
			h, recs, err := DecodeRecords(batches[0])
			if err != nil {
				t.Fatal(err)
			}
			if h.Compression() != c || h.BaseOffset != 0 || h.LastOffset() != 9 || h.RecordCount != 5 ||
				h.BaseTimestamp != 1000 || h.LeaderEpoch != 7 || h.ProducerID != -1 {
				t.Fatalf("rewritten batch header %+v (codec %v)", h, h.Compression())
			}
			for j, r := range recs {
				i := 2*j + 1
				if r.OffsetDelta != int32(i) || r.TimestampDelta != int64(i) || !bytes.Equal(r.Key, first[i].Key) ||
					!bytes.Equal(r.Value, first[i].Value) || len(r.Headers) != 1 || r.Headers[0].Value[0] != byte(i) {
					t.Fatalf("record %d: %+v", j, r)
				}
			}
			if _, err := ValidateBatch(batches[0]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCompactTombstones(t *testing.T) {
	clk := newClock()
	cfg := compactConfig()
	cfg.DeleteRetention = time.Hour
	l := openTestLog(t, t.TempDir(), WithConfig(cfg), WithClock(clk.now))
	defer l.Close()
	at := func(d time.Duration) int64 { return clk.t.Add(d).UnixMilli() }
	logAppend(t, l, testBatchOf(t, CompressionNone, at(-3*time.Hour), kvs("a", "a0", "b", "b0", "c", "c0", "d", "d0")), -1)
	logAppend(t, l, testBatchOf(t, CompressionNone, at(-30*time.Minute), kvs("a", "~")), -1)
	logAppend(t, l, testBatchOf(t, CompressionZstd, at(-2*time.Hour), kvs("b", "~", "x", "~")), -1)
	// Stamped by the broker 10 minutes ago, by its producer 5 hours ago:
	// its age is the broker's.
	lat := testBatchOf(t, CompressionNone, at(-5*time.Hour), kvs("c", "~"))
	SetLogAppendTime(lat, at(-10*time.Minute))
	logAppend(t, l, lat, -1)
	logRoll(t, l)
	logAppend(t, l, testBatchOf(t, CompressionNone, at(0), kvs("d", "~")), -1) // active
	logCommit(l)

	logCompact(t, l)
	wantRecords(t, l, "3:d=d0 4:a=<tombstone> 7:c=<tombstone> 8:d=<tombstone>")
	clk.advance(time.Hour)
	logCompact(t, l)
	wantRecords(t, l, "3:d=d0 8:d=<tombstone>")
	if l.StartOffset() != 0 || l.EndOffset() != 9 {
		t.Fatalf("log [%d, %d)", l.StartOffset(), l.EndOffset())
	}
}

func TestCompactMinCompactionLag(t *testing.T) {
	clk := newClock()
	cfg := compactConfig()
	cfg.MinCompactionLag = time.Hour
	l := openTestLog(t, t.TempDir(), WithConfig(cfg), WithClock(clk.now))
	defer l.Close()
	at := func(d time.Duration) int64 { return clk.t.Add(d).UnixMilli() }
	logAppend(t, l, testBatchOf(t, CompressionNone, at(-2*time.Hour), kvs("a", "a0", "a", "a1")), -1)
	logRoll(t, l)
	logAppend(t, l, testBatchOf(t, CompressionNone, at(-10*time.Minute), kvs("a", "a2")), -1)
	logRoll(t, l)
	// Old, but after a young segment: cleaning stops at the young one.
	logAppend(t, l, testBatchOf(t, CompressionNone, at(-3*time.Hour), kvs("b", "b0", "b", "b1")), -1)
	logRoll(t, l)
	logAppend(t, l, testBatchOf(t, CompressionNone, at(0), kvs("z", "z")), -1)
	logCommit(l)

	if st := logCompact(t, l); st.Segments != 1 || st.RecordsRemoved != 1 {
		t.Fatalf("stats %+v", st)
	}
	wantRecords(t, l, "1:a=a1 2:a=a2 3:b=b0 4:b=b1 5:z=z")
	clk.advance(time.Hour)
	if st := logCompact(t, l); st.Segments != 3 || st.RecordsRemoved != 2 {
		t.Fatalf("stats %+v", st)
	}
	wantRecords(t, l, "2:a=a2 4:b=b1 5:z=z")
}

// TestCompactDeletePolicy: with compact,delete, Maintain compacts and
// retention deletes, also a segment that compaction emptied.
func TestCompactDeletePolicy(t *testing.T) {
	clk := newClock()
	cfg := compactConfig()
	cfg.CleanupPolicy = CleanupCompactDelete
	cfg.RetentionTime = 2 * time.Hour
	dir := t.TempDir()
	l := openTestLog(t, dir, WithConfig(cfg), WithClock(clk.now))
	at := func(d time.Duration) int64 { return clk.t.Add(d).UnixMilli() }
	logAppend(t, l, testBatchOf(t, CompressionNone, at(-time.Hour), kvs("k", "a")), -1)
	logRoll(t, l)
	logAppend(t, l, testBatchOf(t, CompressionNone, at(-30*time.Minute), kvs("k", "b", "j", "x")), -1)
	logRoll(t, l)
	logAppend(t, l, testBatchOf(t, CompressionNone, at(-20*time.Minute), kvs("j", "y")), -1)
	logRoll(t, l)
	logAppend(t, l, testBatchOf(t, CompressionNone, at(0), kvs("z", "z")), -1)
	logCommit(l)

	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	wantRecords(t, l, "1:k=b 3:j=y 4:z=z")
	if l.NumSegments() != 4 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	// 100 minutes on, the first two segments are past retention.ms; the
	// first is empty after compaction but as old as it was.
	clk.advance(100 * time.Minute)
	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 3 || l.NumSegments() != 2 {
		t.Fatalf("after retention: start %d, %d segments %v", l.StartOffset(), l.NumSegments(), logSegBases(l))
	}
	wantRecords(t, l, "3:j=y 4:z=z")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, WithConfig(cfg), WithClock(clk.now))
	defer l.Close()
	logCommit(l)
	wantRecords(t, l, "3:j=y 4:z=z")
}

// TestCompactEmptiedSegmentAgeSurvivesReopen: a segment emptied by
// compaction keeps its age across a restart, so retention deletes it.
func TestCompactEmptiedSegmentAgeSurvivesReopen(t *testing.T) {
	clk := newClock()
	cfg := compactConfig()
	cfg.CleanupPolicy = CleanupCompactDelete
	cfg.RetentionTime = 2 * time.Hour
	dir := t.TempDir()
	l := openTestLog(t, dir, WithConfig(cfg), WithClock(clk.now))
	at := func(d time.Duration) int64 { return clk.t.Add(d).UnixMilli() }
	logAppend(t, l, testBatchOf(t, CompressionNone, at(-time.Hour), kvs("k", "a")), -1)
	logRoll(t, l)
	logAppend(t, l, testBatchOf(t, CompressionNone, at(-time.Hour), kvs("k", "b")), -1)
	logRoll(t, l)
	logAppend(t, l, testBatchOf(t, CompressionNone, at(0), kvs("z", "z")), -1)
	logCommit(l)
	logCompact(t, l)
	wantRecords(t, l, "1:k=b 2:z=z")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Hour)
	l = openTestLog(t, dir, WithConfig(cfg), WithClock(clk.now))
	defer l.Close()
	logCommit(l)
	if n, err := l.EnforceRetention(); err != nil || n != 2 || l.StartOffset() != 2 {
		t.Fatalf("retention after reopen: deleted %d, start %d, %v", n, l.StartOffset(), err)
	}
}

// compactFixture appends to a compact log three sealed segments of
// overwritten keys, with timestamps, and an active segment.
func compactFixture(t *testing.T, dir string, clk *fixedClock) *Log {
	t.Helper()
	l := openTestLog(t, dir, WithConfig(compactConfig()), WithClock(clk.now))
	ts := clk.t.Add(-time.Hour).UnixMilli()
	for seg, keys := range []int{7, 5, 3} {
		for i := range 20 {
			k := fmt.Sprintf("k%d", (i*seg+i)%keys)
			logAppend(t, l, testBatchOf(t, Compression(i%5), ts+int64(100*seg+i), kvs(k, fmt.Sprintf("s%d-%d", seg, i), "", "x")), 1)
		}
		logRoll(t, l)
	}
	logAppend(t, l, testBatchOf(t, CompressionNone, ts+1000, kvs("k0", "last")), 1)
	logCommit(l)
	return l
}

func TestCompactSurvivesReopenAndCrash(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	l := compactFixture(t, dir, clk)
	st := logCompact(t, l)
	if st.RecordsRemoved == 0 || st.Rewritten != 3 {
		t.Fatalf("stats %+v", st)
	}
	want := recordsString(logRecords(t, l))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openTestLog(t, dir, WithConfig(compactConfig()), WithClock(clk.now))
	logCommit(l)
	wantRecords(t, l, want)
	if st := logCompact(t, l); st.RecordsRemoved != 0 {
		t.Fatalf("compaction after reopen removed %d", st.RecordsRemoved)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A crash: no clean-shutdown marker, no recovery point, no indexes.
	// Every segment, gaps and all, is scanned and re-indexed.
	for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
		for _, name := range logFiles(t, l, suffix) {
			os.Remove(filepath.Join(dir, name))
		}
	}
	os.Remove(filepath.Join(dir, cleanShutdownFile))
	os.Remove(filepath.Join(dir, recoveryPointFile))
	l = openTestLog(t, dir, WithConfig(compactConfig()), WithClock(clk.now))
	defer l.Close()
	logCommit(l)
	wantRecords(t, l, want)
	recs := logRecords(t, l)
	for off, i := int64(0), 0; off < l.EndOffset(); off++ {
		for recs[i].Off < off {
			i++
		}
		if r, ok := firstRecordAt(t, l, off); !ok || r.Off != recs[i].Off {
			t.Fatalf("read at %d after recovery: %v, want offset %d", off, r, recs[i].Off)
		}
	}
	if res := logAppend(t, l, kvBatch(t, []byte("k1"), []byte("new"), 1), 1); res.BaseOffset != 121 {
		t.Fatalf("append after recovery at %d", res.BaseOffset)
	}
}

// TestCompactInterruptedRecovery builds two identical logs, compacts one,
// and plants in the other what a crash during compaction leaves: a
// half-written ".cleaned" copy of segment 0 (discarded) and a finished
// ".swap" copy of segment 1 with its ".cleaned" indexes (completed, and
// the segment re-indexed).
func TestCompactInterruptedRecovery(t *testing.T) {
	clk := newClock()
	dirA, dirB := t.TempDir(), t.TempDir()
	a := compactFixture(t, dirA, clk)
	b := compactFixture(t, dirB, clk)
	bases := logSegBases(a)
	before := logRecords(t, a)
	logCompact(t, b)
	compacted := logRecords(t, b)
	for _, l := range []*Log{a, b} {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Segment 1 is compacted, the others are not.
	var want []logRec
	for _, r := range before {
		if r.Off < bases[1] || r.Off >= bases[2] {
			want = append(want, r)
		}
	}
	for _, r := range compacted {
		if r.Off >= bases[1] && r.Off < bases[2] {
			want = append(want, r)
		}
	}
	slices.SortFunc(want, func(a, b logRec) int { return cmp.Compare(a.Off, b.Off) })

	copyFile := func(from, to string) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seg0, seg1 := segmentName(bases[0]), segmentName(bases[1])
	os.WriteFile(filepath.Join(dirA, seg0+".log.cleaned"), []byte("half a segment"), 0o644)
	os.WriteFile(filepath.Join(dirA, seg0+".index.cleaned"), []byte{1, 2, 3}, 0o644)
	copyFile(filepath.Join(dirB, seg1+".log"), filepath.Join(dirA, seg1+".log.swap"))
	copyFile(filepath.Join(dirB, seg1+".index"), filepath.Join(dirA, seg1+".index.cleaned"))
	copyFile(filepath.Join(dirB, seg1+".timeindex"), filepath.Join(dirA, seg1+".timeindex.cleaned"))

	a = openTestLog(t, dirA, WithConfig(compactConfig()), WithClock(clk.now))
	defer a.Close()
	for _, suffix := range []string{".cleaned", ".swap"} {
		if files := logFiles(t, a, suffix); len(files) != 0 {
			t.Fatalf("left over after Open: %v", files)
		}
	}
	// The sealed segments have their indexes, the swapped-in one rebuilt.
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if files := logFiles(t, a, suffix); len(files) < len(bases)-1 {
			t.Fatalf("%s files after Open: %v", suffix, files)
		}
	}
	logCommit(a)
	wantRecords(t, a, recordsString(want))
	// The swapped-in segment's rebuilt index finds every offset.
	for off, i := bases[1], 0; off < bases[2]; off++ {
		for want[i].Off < off {
			i++
		}
		if r, ok := firstRecordAt(t, a, off); !ok || r.Off != want[i].Off {
			t.Fatalf("read at %d: %v, want offset %d", off, r, want[i].Off)
		}
	}
	// Compacting now gives what the uninterrupted compaction gave.
	logCompact(t, a)
	wantRecords(t, a, recordsString(compacted))
}

// TestCompactConcurrentWithAppends: an appender writes (and rolls) while
// compaction passes run back to back; appends never fail, offsets are
// contiguous, and in the end every key has exactly its last value.
func TestCompactConcurrentWithAppends(t *testing.T) {
	cfg := compactConfig()
	cfg.SegmentBytes = 8 << 10
	cfg.IndexIntervalBytes = 256
	l := openTestLog(t, t.TempDir(), WithConfig(cfg))
	defer l.Close()
	const appends, keys = 2000, 40
	last := make(map[string]int64) // key → offset of its last record; the appender's
	// inPass counts the appends that returned while a pass ran; overlapped
	// sums it over the passes that had segments to clean.
	var compacting atomic.Bool
	var inPass atomic.Int64
	overlapped := int64(0)
	done := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		next := int64(0)
		for i := range appends {
			recs := make([]Record, 1+i%4)
			for j := range recs {
				k := fmt.Sprintf("k%02d", rng.IntN(keys))
				recs[j] = Record{OffsetDelta: int32(j), Key: []byte(k), Value: strconv.AppendInt(nil, next+int64(j), 10)}
				last[k] = next + int64(j)
			}
			h := BatchHeader{BaseTimestamp: 1000, MaxTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
			b, err := AppendBatch(nil, h, recs, Compression(i%3))
			if err != nil {
				done <- err
				return
			}
			res, err := l.Append(b, 1)
			if err != nil {
				done <- fmt.Errorf("append %d: %w", i, err)
				return
			}
			if res.BaseOffset != next {
				done <- fmt.Errorf("append %d at %d, want %d", i, res.BaseOffset, next)
				return
			}
			if compacting.Load() {
				inPass.Add(1)
			}
			next = res.LastOffset + 1
			logCommit(l)
		}
		done <- nil
	}()
	passes, examined, removed := 0, 0, int64(0)
	var appendErr error
loop:
	for {
		select {
		case appendErr = <-done:
			break loop
		default:
		}
		inPass.Store(0)
		compacting.Store(true)
		st, err := l.Compact()
		compacting.Store(false)
		if err != nil {
			t.Fatalf("compact pass %d: %v", passes, err)
		}
		if st.Segments == 0 {
			runtime.Gosched() // nothing sealed yet
			continue
		}
		overlapped += inPass.Load()
		passes++
		examined += st.Segments
		removed += st.RecordsRemoved
	}
	if appendErr != nil {
		t.Fatal(appendErr)
	}
	t.Logf("%d compaction passes examined %d segments and removed %d records; %d appends returned during a pass; %d segments",
		passes, examined, removed, overlapped, l.NumSegments())
	if removed == 0 || overlapped == 0 {
		t.Fatalf("compaction and appends did not overlap: removed %d, overlapped appends %d", removed, overlapped)
	}
	logRoll(t, l)
	logCommit(l)
	logCompact(t, l)
	recs := logRecords(t, l)
	if len(recs) != len(last) {
		t.Fatalf("%d records for %d keys", len(recs), len(last))
	}
	for _, r := range recs {
		if string(r.Value) != strconv.FormatInt(r.Off, 10) || last[string(r.Key)] != r.Off {
			t.Fatalf("record %v: the key's last record is at %d", r, last[string(r.Key)])
		}
	}
}

// TestCompactMillionUpdates: a million updates of 100,000 keys (ten
// each) and 10,000 tombstones, in batches of 500, in segments of 4 MiB.
func TestCompactMillionUpdates(t *testing.T) {
	const (
		keys       = 100_000
		rounds     = 10
		perBatch   = 500
		tombstoned = 10 // every tenth key is deleted
	)
	clk := newClock()
	cfg := compactConfig()
	cfg.SegmentBytes = 4 << 20
	cfg.IndexIntervalBytes = 4096
	cfg.MaxBatchBytes = 1 << 20
	cfg.DeleteRetention = time.Hour
	l := openTestLog(t, t.TempDir(), WithConfig(cfg), WithClock(clk.now))
	defer l.Close()

	start := time.Now()
	key := func(k int) []byte { return fmt.Appendf(nil, "key-%06d", k) }
	recs := make([]Record, 0, perBatch)
	var buf []byte
	flush := func() {
		h := BatchHeader{BaseTimestamp: clk.t.UnixMilli(), MaxTimestamp: clk.t.UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
		var err error
		if buf, err = AppendBatch(buf[:0], h, recs, CompressionNone); err != nil {
			t.Fatal(err)
		}
		logAppend(t, l, buf, 1)
		recs = recs[:0]
	}
	updates := 0
	for r := range rounds {
		for k := range keys {
			recs = append(recs, Record{OffsetDelta: int32(len(recs)), Key: key(k), Value: fmt.Appendf(nil, "r%d", r)})
			updates++
			if len(recs) == perBatch {
				flush()
			}
		}
	}
	for k := 0; k < keys; k += tombstoned {
		recs = append(recs, Record{OffsetDelta: int32(len(recs)), Key: key(k)})
		if len(recs) == perBatch {
			flush()
		}
	}
	if len(recs) > 0 {
		flush()
	}
	logRoll(t, l)
	logCommit(l)
	if updates != 1_000_000 || l.EndOffset() != 1_010_000 {
		t.Fatalf("%d updates, end %d", updates, l.EndOffset())
	}
	segments, size := l.NumSegments(), l.Size()
	appended := time.Since(start)

	start = time.Now()
	st := logCompact(t, l)
	compacted := time.Since(start)
	if st.RecordsRemoved != 1_010_000-keys {
		t.Fatalf("first pass: %+v", st)
	}
	check := func(wantTombstones bool) {
		t.Helper()
		recs := logRecords(t, l)
		want := keys - keys/tombstoned
		if wantTombstones {
			want = keys
		}
		if len(recs) != want {
			t.Fatalf("%d records, want %d", len(recs), want)
		}
		seen := make(map[int]bool, len(recs))
		for _, r := range recs {
			k, err := strconv.Atoi(strings.TrimPrefix(string(r.Key), "key-"))
			if err != nil || seen[k] {
				t.Fatalf("record %v: a bad or repeated key", r)
			}
			seen[k] = true
			switch {
			case k%tombstoned == 0 && (!wantTombstones || r.Value != nil):
				t.Fatalf("record %v: want no record or a tombstone", r)
			case k%tombstoned != 0 && string(r.Value) != fmt.Sprintf("r%d", rounds-1):
				t.Fatalf("record %v: want the last value", r)
			}
		}
	}
	check(true)

	clk.advance(time.Hour + time.Millisecond)
	start = time.Now()
	st = logCompact(t, l)
	if st.RecordsRemoved != keys/tombstoned {
		t.Fatalf("second pass: %+v", st)
	}
	second := time.Since(start)
	check(false)
	t.Logf("%d records in %d segments (%d MiB): appended in %v, compacted in %v (%d MiB after), tombstones expired in %v",
		l.EndOffset(), segments, size>>20, appended.Round(time.Millisecond), compacted.Round(time.Millisecond),
		st.BytesAfter>>20, second.Round(time.Millisecond))
}
