package log

import (
	"fmt"
	"path/filepath"

	"github.com/runnel-io/runnel/log/vfs"
)

// SegmentInfo summarises one segment file as found on disk.
type SegmentInfo struct {
	Base         int64
	Bytes        int64
	Batches      int
	Records      int64
	FirstOffset  int64 // -1 when empty
	LastOffset   int64 // -1 when empty
	MaxTimestamp int64 // -1 when empty
	// ValidBytes is where the first invalid batch starts (== Bytes when the
	// whole file is valid); Problem says what is wrong there.
	ValidBytes int64
	Problem    error
}

// Inspect reads the segments of the log in dir without opening the log
// (nothing is recovered, truncated or written) and verifies every batch,
// as an operator's dump tool does. fn, if not nil, sees every valid batch.
func Inspect(fs vfs.FS, dir string, fn func(seg int64, h *BatchHeader, batch []byte) error) ([]SegmentInfo, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("log: list %s: %w", dir, err)
	}
	var out []SegmentInfo
	for _, name := range names {
		base, ok := parseSegmentName(name)
		if !ok {
			continue
		}
		info, err := inspectSegment(fs, filepath.Join(dir, name), base, fn)
		if err != nil {
			return out, err
		}
		out = append(out, info)
	}
	return out, nil
}

func inspectSegment(fs vfs.FS, path string, base int64, fn func(int64, *BatchHeader, []byte) error) (SegmentInfo, error) {
	info := SegmentInfo{Base: base, FirstOffset: -1, LastOffset: -1, MaxTimestamp: -1}
	f, err := fs.Open(path)
	if err != nil {
		return info, fmt.Errorf("log: open %s: %w", path, err)
	}
	s := newSegmentStruct(fs, filepath.Dir(path), base)
	s.file = f
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return info, err
	}
	s.size.Store(size)
	info.Bytes = size
	valid, bad, err := s.scanFrom(0, 1<<30)
	if err != nil {
		return info, err
	}
	info.ValidBytes, info.Problem = valid, bad
	s.size.Store(valid)
	err = s.eachBatch(func(h *BatchHeader, b []byte) error {
		if info.FirstOffset < 0 {
			info.FirstOffset = h.BaseOffset
		}
		info.LastOffset = h.LastOffset()
		info.MaxTimestamp = max(info.MaxTimestamp, h.MaxTimestamp)
		info.Batches++
		info.Records += int64(h.RecordCount)
		if fn != nil {
			return fn(base, h, b)
		}
		return nil
	})
	return info, err
}
