package log

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestReadRecentMatchesFile: reads at the log end, answered from the
// active segment's recent batches, give exactly what reading the index and
// the batch headers from the file gives, through appends of batches of
// random sizes, segment rolls, truncations and every kind of limit.
func TestReadRecentMatchesFile(t *testing.T) {
	l := openTestLog(t, t.TempDir(), WithConfig(smallConfig()))
	defer l.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	answered, fellBack := 0, 0
	for step := range 3000 {
		switch r := rng.IntN(100); {
		case r < 2 && l.EndOffset() > 10:
			if err := l.TruncateTo(l.EndOffset() - 1 - rng.Int64N(10)); err != nil {
				t.Fatal(err)
			}
		case r < 40:
			if _, err := l.Append(testBatch(t, CompressionNone, 1+rng.IntN(12), int64(step)), 0); err != nil {
				t.Fatal(err)
			}
		}
		l.SetHighWatermark(l.EndOffset() - rng.Int64N(3))
		ok, err := compareRecentRead(l, rng)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if ok {
			answered++
		} else {
			fellBack++
		}
	}
	t.Logf("%d reads answered from the recent batches, %d from the file", answered, fellBack)
	if answered < 1000 {
		t.Fatalf("only %d of 3000 reads were answered from the recent batches", answered)
	}
}

// compareRecentRead reads near the end of the active segment with random
// limits both ways and reports whether the recent batches answered.
func compareRecentRead(l *Log, rng *rand.Rand) (bool, error) {
	t := l.tail.Load()
	s := t.seg
	if !s.tryRef() {
		return false, nil
	}
	defer s.unref()
	if t.next == s.base {
		return false, nil
	}
	off := max(s.base, t.next-1-rng.Int64N(120))
	lim := ReadLimit{MaxBytes: rng.IntN(4096), MaxOffset: l.HighWatermark() - rng.Int64N(2), MinOne: rng.IntN(2) == 0}
	if rng.IntN(4) == 0 {
		lim.MaxOffset = t.next + 5
	}
	maxOff := min(lim.MaxOffset, t.next)
	if off >= maxOff {
		return false, nil
	}
	limit := min(s.size.Load(), t.size)
	got, found, ok := s.readRecent(t, off, maxOff, limit, lim)
	want, wantFound, err := readSegmentFile(s, nil, t, off, maxOff, lim)
	if err != nil || !ok {
		return false, err
	}
	if found != wantFound || got.pos != want.pos || got.n != want.n || got.FirstOffset != want.FirstOffset || (got.n > 0) != (got.seg != nil) {
		return true, fmt.Errorf("read %d %+v: recent %d+%d first %d found %v, file %d+%d first %d found %v",
			off, lim, got.pos, got.n, got.FirstOffset, found, want.pos, want.n, want.FirstOffset, wantFound)
	}
	return true, nil
}
