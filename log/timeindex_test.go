package log

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// tsQuery is an OffsetForTimestamp question and its answer.
type tsQuery struct {
	target      int64
	off, ts     int64
	found       bool
	description string
}

func checkTimestamps(t *testing.T, l *Log, queries []tsQuery) {
	t.Helper()
	for _, q := range queries {
		off, ts, found, err := l.OffsetForTimestamp(q.target)
		if err != nil {
			t.Fatalf("OffsetForTimestamp(%d): %v", q.target, err)
		}
		if found != q.found || found && (off != q.off || ts != q.ts) {
			t.Errorf("OffsetForTimestamp(%d) [%s] = (%d, %d, %v), want (%d, %d, %v)",
				q.target, q.description, off, ts, found, q.off, q.ts, q.found)
		}
	}
}

// timestampFixture writes three segments:
//
//	segment 0: offsets 0-2 at 1000, 1010, 1020; 3-4 at 1100, 1105
//	segment 1: offsets 5-7 at 2000, 2100, 2200; 8-11 at 2800, 2500, 2700, 2600
//	segment 2 (active): 12 at 1500; 13-14 LogAppendTime 4000 (created at
//	100, 101); 15 at 3900
func timestampFixture(t *testing.T, dir string, cfg Config) *Log {
	l := openTestLog(t, dir, WithConfig(cfg))
	at := func(ts int64, deltas ...int64) []byte {
		recs := make([]Record, len(deltas))
		for i, d := range deltas {
			recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: d, Key: []byte("k"), Value: []byte("v")}
		}
		return testBatchOf(t, Compression(len(deltas)%5), ts, recs)
	}
	logAppend(t, l, at(1000, 0, 10, 20), 1)
	logAppend(t, l, at(1100, 0, 5), 1)
	logRoll(t, l)
	logAppend(t, l, at(2000, 0, 100, 200), 1)
	logAppend(t, l, at(2500, 300, 0, 200, 100), 1)
	logRoll(t, l)
	logAppend(t, l, at(1500, 0), 1)
	lat := at(100, 0, 1)
	SetLogAppendTime(lat, 4000)
	logAppend(t, l, lat, 1)
	logAppend(t, l, at(3900, 0), 1)
	logCommit(l)
	return l
}

var timestampQueries = []tsQuery{
	{0, 0, 1000, true, "older than everything: the first record"},
	{1000, 0, 1000, true, "exactly the first"},
	{1001, 1, 1010, true, "a record inside the first batch"},
	{1020, 2, 1020, true, "the last record of a batch"},
	{1021, 3, 1100, true, "the next batch"},
	{1106, 5, 2000, true, "the next segment"},
	{1400, 5, 2000, true, "a later, older batch does not come first"},
	{2150, 7, 2200, true, "inside a batch of the second segment"},
	{2201, 8, 2800, true, "non-monotonic batch: its first record"},
	{2650, 8, 2800, true, "non-monotonic batch: first in offset order, not in time"},
	{2801, 13, 4000, true, "LogAppendTime batch: its first record"},
	{3950, 13, 4000, true, "LogAppendTime before a CreateTime batch"},
	{4000, 13, 4000, true, "the largest timestamp"},
	{4001, 0, 0, false, "newer than everything"},
	{1 << 50, 0, 0, false, "far in the future"},
}

func TestOffsetForTimestamp(t *testing.T) {
	for _, interval := range []int{0, 64, 4096} {
		t.Run("index.interval.bytes="+strconv.Itoa(interval), func(t *testing.T) {
			cfg := smallConfig()
			cfg.IndexIntervalBytes = interval
			dir := t.TempDir()
			l := timestampFixture(t, dir, cfg)
			checkTimestamps(t, l, timestampQueries)

			// After a clean restart, from the index files.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTestLog(t, dir, WithConfig(cfg))
			checkTimestamps(t, l, timestampQueries)

			// After a crash: the active segment's indexes were only in
			// memory, and a torn batch ends the active segment.
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			l.bg.Wait()
			tail := filepath.Join(dir, segmentName(12)+logSuffix)
			f, err := os.OpenFile(tail, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			torn := testBatch(t, CompressionNone, 3, 9999)
			setBaseOffset(torn, 16)
			if _, err := f.Write(torn[:len(torn)-5]); err != nil {
				t.Fatal(err)
			}
			f.Close()
			l2 := openTestLog(t, dir, WithConfig(cfg)) // l is abandoned, as by a crash
			if l2.EndOffset() != 16 {
				t.Fatalf("end after recovery %d", l2.EndOffset())
			}
			checkTimestamps(t, l2, timestampQueries)
			if err := l2.Close(); err != nil {
				t.Fatal(err)
			}

			// After a crash that lost every index and checkpoint.
			for _, name := range []string{cleanShutdownFile, recoveryPointFile} {
				os.Remove(filepath.Join(dir, name))
			}
			for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
				for _, name := range logFiles(t, l2, suffix) {
					os.Remove(filepath.Join(dir, name))
				}
			}
			l3 := openTestLog(t, dir, WithConfig(cfg))
			defer l3.Close()
			checkTimestamps(t, l3, timestampQueries)
		})
	}
}

// TestOffsetForTimestampMatchesScan compares OffsetForTimestamp with a
// scan of every record, over many segments of batches whose timestamps
// go up, with jitter and some LogAppendTime batches.
func TestOffsetForTimestampMatchesScan(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 4 << 10
	cfg.IndexIntervalBytes = 200
	dir := t.TempDir()
	l := openTestLog(t, dir, WithConfig(cfg))
	rng := rand.New(rand.NewPCG(7, 7))
	var all []logRec // every record, in offset order
	clock := int64(10_000)
	for range 400 {
		clock += rng.Int64N(40)
		base := clock - 100 + rng.Int64N(150) // up to 100 ms in the past
		n := 1 + rng.IntN(6)
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: rng.Int64N(60), Key: []byte("k"), Value: []byte("value")}
		}
		b := testBatchOf(t, Compression(rng.IntN(5)), base, recs)
		if rng.IntN(8) == 0 {
			SetLogAppendTime(b, clock)
		}
		logAppend(t, l, b, 1)
		all = append(all, batchRecs(t, b)...)
	}
	logCommit(l)
	if l.NumSegments() < 5 {
		t.Fatalf("only %d segments", l.NumSegments())
	}
	scan := func(target int64) (int64, int64, bool) {
		for _, r := range all {
			if r.Ts >= target {
				return r.Off, r.Ts, true
			}
		}
		return 0, 0, false
	}
	var queries []tsQuery
	for range 400 {
		target := 9_800 + rng.Int64N(clock-9_700)
		off, ts, found := scan(target)
		queries = append(queries, tsQuery{target, off, ts, found, "scan"})
	}
	checkTimestamps(t, l, queries)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, WithConfig(cfg))
	defer l.Close()
	checkTimestamps(t, l, queries)
}

// TestOffsetForTimestampAfterCompaction: a batch compaction rewrote keeps
// its header's max timestamp, which may belong to a record that is gone;
// the search goes on to the record that holds the timestamp now.
func TestOffsetForTimestampAfterCompaction(t *testing.T) {
	l := openTestLog(t, t.TempDir(), WithConfig(compactConfig()))
	defer l.Close()
	logAppend(t, l, testBatchOf(t, CompressionNone, 100, []Record{
		{OffsetDelta: 0, TimestampDelta: 0, Key: []byte("a"), Value: []byte("a0")},
		{OffsetDelta: 1, TimestampDelta: 100, Key: []byte("b"), Value: []byte("b0")},
	}), 1)
	logAppend(t, l, testBatchOf(t, CompressionNone, 300, kvs("b", "b1")), 1)
	logRoll(t, l)
	logAppend(t, l, testBatchOf(t, CompressionNone, 400, kvs("c", "c0")), 1)
	logCommit(l)
	queries := []tsQuery{
		{50, 0, 100, true, "the first record"},
		{150, 1, 200, true, "the superseded record, before compaction"},
		{250, 2, 300, true, "the next batch"},
	}
	checkTimestamps(t, l, queries)
	logCompact(t, l)
	wantRecords(t, l, "0:a=a0 2:b=b1 3:c=c0")
	queries[1] = tsQuery{150, 2, 300, true, "past the record compaction removed"}
	checkTimestamps(t, l, queries)
}

// TestOffsetForTimestampBelowStart: records below the log start offset are
// not offered.
func TestOffsetForTimestampBelowStart(t *testing.T) {
	l := openTestLog(t, t.TempDir(), WithConfig(smallConfig()))
	defer l.Close()
	logAppend(t, l, testBatch(t, CompressionNone, 10, 1000), 1) // 0-9 at 1000-1009
	logCommit(l)
	if err := l.DeleteRecords(4); err != nil {
		t.Fatal(err)
	}
	off, _, found, err := l.OffsetForTimestamp(0)
	if err != nil || !found || off != 4 {
		t.Fatalf("OffsetForTimestamp(0) = %d, %v, %v; want 4", off, found, err)
	}
	checkTimestamps(t, l, []tsQuery{{1007, 7, 1007, true, "above the start"}})
}
