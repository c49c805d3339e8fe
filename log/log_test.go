package log

import (
	"bytes"
	"errors"
	"testing"
)

func TestAppendReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, WithConfig(smallConfig()))
	var want [][]byte
	for i := 0; i < 500; i++ {
		b := testBatch(t, Compression(i%5), 1+i%7, int64(1000+i))
		res, err := l.Append(b, 3)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if i > 0 {
			prev, _ := ParseBatchHeader(want[len(want)-1])
			if res.BaseOffset != prev.NextOffset() {
				t.Fatalf("append %d: base %d, want %d", i, res.BaseOffset, prev.NextOffset())
			}
		}
		want = append(want, b)
	}
	if l.NumSegments() < 2 {
		t.Fatalf("expected several segments, got %d", l.NumSegments())
	}
	check := func(l *Log) {
		t.Helper()
		got := readAllBatches(t, l, l.EndOffset())
		if len(got) != len(want) {
			t.Fatalf("read %d batches, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("batch %d differs", i)
			}
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, WithConfig(smallConfig()))
	defer l.Close()
	check(l)
	if _, err := l.Read(l.EndOffset()+1, ReadLimit{MaxBytes: 100, MaxOffset: l.EndOffset()}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past end: %v", err)
	}
}
