package log

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel-io/runnel/log/vfs"
)

// FuzzValidateBatch: whatever bytes arrive as a batch, ValidateBatch
// answers without panicking, and what it accepts is exactly one batch
// that the iterator walks the same way.
func FuzzValidateBatch(f *testing.F) {
	for c := CompressionNone; c <= CompressionZstd; c++ {
		b := testBatch(f, c, 3, 1000)
		f.Add(b)
		f.Add(b[:len(b)-1])
		bad := bytes.Clone(b)
		bad[len(bad)-1] ^= 0xff
		f.Add(bad)
	}
	f.Add([]byte{})
	f.Add(make([]byte, BatchHeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ValidateBatch(b)
		if err != nil {
			return
		}
		if h.Size() != len(b) {
			t.Fatalf("accepted a batch of %d bytes whose header says %d", len(b), h.Size())
		}
		it := NewBatchIter(b)
		ih, ib, ok := it.Next()
		if !ok || ih != h || !bytes.Equal(ib, b) {
			t.Fatalf("iterator disagrees: ok=%v err=%v", ok, it.Err())
		}
		if _, _, ok := it.Next(); ok {
			t.Fatal("iterator found a second batch")
		}
	})
}

// validSegment returns the bytes of a segment holding n batches from
// offset 0, as a crash would leave them.
func validSegment(t testing.TB, n int) []byte {
	var seg []byte
	var next int64
	for i := 0; i < n; i++ {
		b := testBatch(t, Compression(i%5), 1+i%4, int64(1000+i))
		setBaseOffset(b, next)
		h, err := ValidateBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		next = h.NextOffset()
		seg = append(seg, b...)
	}
	return seg
}

// FuzzRecover: whatever a crash leaves in the active segment, Open
// recovers it to a valid prefix without panicking, every batch left is
// valid and readable, and appends continue after it.
func FuzzRecover(f *testing.F) {
	seg := validSegment(f, 6)
	f.Add(seg)
	f.Add(seg[:len(seg)-7])
	f.Add(append(bytes.Clone(seg), 0xde, 0xad, 0xbe, 0xef))
	flipped := bytes.Clone(seg)
	flipped[len(flipped)/2] ^= 0x40
	f.Add(flipped)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(0)+logSuffix), data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := smallConfig()
		cfg.IndexIntervalBytes = 64
		l := openTestLog(t, dir, WithConfig(cfg), WithFS(noSyncFS{vfs.Default}))
		defer l.Close()
		if l.Size() > int64(len(data)) || !bytes.Equal(readFileOrNil(t, filepath.Join(dir, segmentName(0)+logSuffix)), data[:l.Size()]) {
			t.Fatalf("recovery kept %d bytes that are not a prefix of the %d written", l.Size(), len(data))
		}
		end := l.EndOffset()
		l.SetHighWatermark(end)
		var next int64
		for _, b := range readAllBatches(t, l, end) {
			h, err := ValidateBatch(b)
			if err != nil {
				t.Fatalf("recovered log holds an invalid batch: %v", err)
			}
			if h.BaseOffset < next {
				t.Fatalf("offsets go backwards: %d after %d", h.BaseOffset, next)
			}
			next = h.NextOffset()
		}
		if next != end {
			t.Fatalf("batches end at %d, log end offset %d", next, end)
		}
		res, err := l.Append(testBatch(t, CompressionNone, 2, 5000), -1)
		if err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
		if res.BaseOffset != end {
			t.Fatalf("append after recovery got offset %d, want %d", res.BaseOffset, end)
		}
	})
}

func readFileOrNil(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return b
}

// FuzzIndexFiles: whatever a clean-shutdown log's index files hold, Open
// does not panic, and every read either fails with an error or returns the
// batches the log really holds.
func FuzzIndexFiles(f *testing.F) {
	// A template log: two sealed segments and an active one, closed cleanly.
	tmpl := f.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 2048
	cfg.IndexIntervalBytes = 100
	l, err := Open(tmpl, WithConfig(cfg), WithLogger(discardLogger()))
	if err != nil {
		f.Fatal(err)
	}
	var want [][]byte
	for i := 0; i < 40; i++ {
		b := testBatch(f, CompressionNone, 2, int64(1000+i))
		if _, err := l.Append(b, 0); err != nil {
			f.Fatal(err)
		}
		want = append(want, b)
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	files := map[string][]byte{}
	names, _ := os.ReadDir(tmpl)
	for _, e := range names {
		files[e.Name()], _ = os.ReadFile(filepath.Join(tmpl, e.Name()))
	}
	first, active := segmentName(0), ""
	for name := range files {
		if filepath.Ext(name) == logSuffix && name > active {
			active = name[:20]
		}
	}
	f.Add(files[first+indexSuffix], files[first+timeIndexSuffix], files[active+indexSuffix])
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 5}, []byte{}, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, idx, tidx, activeIdx []byte) {
		dir := t.TempDir()
		for name, data := range files {
			switch name {
			case first + indexSuffix:
				data = idx
			case first + timeIndexSuffix:
				data = tidx
			case active + indexSuffix:
				data = activeIdx
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		l, err := Open(dir, WithConfig(cfg), WithLogger(discardLogger()), WithFS(noSyncFS{vfs.Default}))
		if err != nil {
			return
		}
		defer l.Close()
		l.SetHighWatermark(l.EndOffset())
		for _, w := range want {
			h, _ := ParseBatchHeader(w)
			got, err := l.ReadBatches(h.BaseOffset, len(w), l.EndOffset())
			if err != nil {
				continue
			}
			if !bytes.Equal(got, w) {
				t.Fatalf("read at %d returned the wrong batch", h.BaseOffset)
			}
		}
		l.OffsetForTimestamp(1010)
	})
}
