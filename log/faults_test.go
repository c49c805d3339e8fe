package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/runnel-io/runnel/log/vfs"
)

// faultAppend appends b and fails the test unless it lands at want.
func faultAppend(t *testing.T, l *Log, b []byte, want int64) AppendResult {
	t.Helper()
	res, err := l.Append(b, -1)
	if err != nil {
		t.Fatalf("append at %d: %v", want, err)
	}
	if res.BaseOffset != want {
		t.Fatalf("append: base offset %d, want %d", res.BaseOffset, want)
	}
	return res
}

// faultFill appends n batches of varied sizes and returns them as stored.
func faultFill(t *testing.T, l *Log, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := testBatch(t, CompressionNone, 4+i%9, int64(1000+i))
		faultAppend(t, l, b, l.EndOffset())
		out = append(out, b)
	}
	return out
}

// faultEnd is the offset after the last of batches (start if none).
func faultEnd(t *testing.T, batches [][]byte, start int64) int64 {
	t.Helper()
	if len(batches) == 0 {
		return start
	}
	h, err := ParseBatchHeader(batches[len(batches)-1])
	if err != nil {
		t.Fatal(err)
	}
	return h.NextOffset()
}

// faultCheck fails the test unless the log holds exactly want, from
// offset 0.
func faultCheck(t *testing.T, l *Log, want [][]byte) {
	t.Helper()
	if end, wantEnd := l.EndOffset(), faultEnd(t, want, 0); end != wantEnd {
		t.Fatalf("end offset %d, want %d", end, wantEnd)
	}
	got := readAllBatches(t, l, l.EndOffset())
	if len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
	// Each batch read on its own, at its last offset: a lookup in the
	// offset index rather than a scan from the segment's start.
	for i, b := range want {
		h, _ := ParseBatchHeader(b)
		buf, err := l.ReadBatches(h.LastOffset(), 1, l.EndOffset())
		if err != nil {
			t.Fatalf("read batch %d at %d: %v", i, h.LastOffset(), err)
		}
		if !bytes.Equal(buf, b) {
			t.Fatalf("read at %d: got %d bytes, not batch %d", h.LastOffset(), len(buf), i)
		}
	}
}

// faultCopyDir copies the regular files of src into dst: the image a
// crash would leave, taken while the log is open.
func faultCopyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func faultSegmentPath(dir string, base int64) string {
	return filepath.Join(dir, segmentName(base)+logSuffix)
}

func faultFileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestTornTail damages the end of the active segment of a crashed log in
// the ways a torn write or a bad disk does, and checks that Open cuts the
// segment back to its last intact batch, says so, and that the log then
// takes appends at the next offset.
func TestTornTail(t *testing.T) {
	// The crash image: a one-segment log, flushed, copied while open.
	src := t.TempDir()
	l := openTestLog(t, src)
	want := faultFill(t, l, 20)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	image := t.TempDir()
	faultCopyDir(t, src, image)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(image, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatalf("the crash image has a clean-shutdown marker: %v", err)
	}

	n := len(want)
	ends := make([]int64, n) // ends[i]: file position after batch i
	var pos int64
	for i, b := range want {
		pos += int64(len(b))
		ends[i] = pos
	}
	size, lastStart := ends[n-1], ends[n-2]
	if len(want[n-1]) <= 100 {
		t.Fatalf("the last batch (%d bytes) must be longer than 100 bytes", len(want[n-1]))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := func(k int) []byte {
		g := make([]byte, k)
		for i := range g {
			g[i] = byte(rng.Uint32())
		}
		g[batchOffMagic] = 7 // not a batch, whatever the rest says
		return g
	}
	keptBelow := func(limit int64) int { // batches wholly below limit
		k := 0
		for k < n && ends[k] <= limit {
			k++
		}
		return k
	}
	hugeHeader := bytes.Clone(want[n-1][:BatchHeaderSize])
	setBaseOffset(hugeHeader, faultEnd(t, want, 0))
	binary.BigEndian.PutUint32(hugeHeader[batchOffLength:], 1<<30)

	cases := []struct {
		name    string
		corrupt func(data []byte) []byte
		keep    int // batches that survive
	}{
		{"cut 1 byte", func(d []byte) []byte { return d[:size-1] }, n - 1},
		{"cut inside the records", func(d []byte) []byte { return d[:size-int64(len(want[n-1])/2)] }, n - 1},
		{"cut inside the header", func(d []byte) []byte { return d[:lastStart+30] }, n - 1},
		{"cut after the header", func(d []byte) []byte { return d[:lastStart+BatchHeaderSize] }, n - 1},
		{"cut into the previous batch", func(d []byte) []byte { return d[:lastStart-5] }, n - 2},
		{"short garbage appended", func(d []byte) []byte { return append(d, garbage(37)...) }, n},
		{"long garbage appended", func(d []byte) []byte { return append(d, garbage(500)...) }, n},
		{"zeros appended", func(d []byte) []byte { return append(d, make([]byte, 4096)...) }, n},
		{"huge header appended", func(d []byte) []byte { return append(d, hugeHeader...) }, n},
		{"byte flipped in the last records", func(d []byte) []byte { d[size-3] ^= 0xff; return d }, n - 1},
		{"crc flipped", func(d []byte) []byte { d[lastStart+batchOffCRC] ^= 1; return d }, n - 1},
		{"byte flipped in a middle batch", func(d []byte) []byte { d[ends[n/2-1]+70] ^= 0x10; return d }, n / 2},
		{"last 100 bytes zeroed", func(d []byte) []byte { clear(d[size-100:]); return d }, keptBelow(size - 100)},
		{"huge length in the last header", func(d []byte) []byte {
			binary.BigEndian.PutUint32(d[lastStart+batchOffLength:], 0x7fffffff)
			return d
		}, n - 1},
		{"negative length in the last header", func(d []byte) []byte {
			binary.BigEndian.PutUint32(d[lastStart+batchOffLength:], 0xffffffff)
			return d
		}, n - 1},
		{"bad magic in the last header", func(d []byte) []byte { d[lastStart+batchOffMagic] = 1; return d }, n - 1},
		{"last base offset goes backwards", func(d []byte) []byte {
			// The base offset is outside the CRC.
			binary.BigEndian.PutUint64(d[lastStart+batchOffBaseOffset:], 3)
			return d
		}, n - 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkTornTail(t, image, tc.corrupt, want[:tc.keep], ends) })
	}

	t.Run("corrupt batch in a middle segment", func(t *testing.T) {
		for _, which := range []string{"first", "middle"} {
			t.Run(which, func(t *testing.T) { testCorruptMiddleSegment(t, which == "first") })
		}
	})
}

// checkTornTail damages a copy of the crash image's one segment with
// corrupt, and checks that Open keeps exactly the batches kept, warns, and
// takes an append at the next offset. ends[i] is the position after batch i.
func checkTornTail(t *testing.T, image string, corrupt func([]byte) []byte, kept [][]byte, ends []int64) {
	dir := t.TempDir()
	faultCopyDir(t, image, dir)
	seg := faultSegmentPath(dir, 0)
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if size := ends[len(ends)-1]; int64(len(data)) != size {
		t.Fatalf("segment has %d bytes, want %d", len(data), size)
	}
	if err := os.WriteFile(seg, corrupt(data), 0o644); err != nil {
		t.Fatal(err)
	}
	logger, logBuf := quietLogger(t)
	l, err := Open(dir, WithLogger(logger))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer func() { l.Close() }()
	faultCheck(t, l, kept)
	if !strings.Contains(logBuf.String(), "level=WARN") || !strings.Contains(logBuf.String(), "truncating") {
		t.Fatalf("no warning about the truncation:\n%s", logBuf)
	}
	wantSize := int64(0)
	if len(kept) > 0 {
		wantSize = ends[len(kept)-1]
	}
	if got := faultFileSize(t, seg); got != wantSize || l.Size() != wantSize {
		t.Fatalf("segment is %d bytes (Size %d) after recovery, want %d", got, l.Size(), wantSize)
	}

	b := testBatch(t, CompressionNone, 3, 5000)
	faultAppend(t, l, b, faultEnd(t, kept, 0))
	kept = append(slices.Clone(kept), b)
	faultCheck(t, l, kept)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir)
	faultCheck(t, l, kept)
}

// testCorruptMiddleSegment damages one batch of the second of several
// segments, in a crash image without a recovery point (so every segment is
// scanned): Open must cut that segment there and remove every later one.
func testCorruptMiddleSegment(t *testing.T, firstBatch bool) {
	cfg := smallConfig()
	cfg.SegmentBytes = 2048
	src := t.TempDir()
	l := openTestLog(t, src, WithConfig(cfg))
	want := faultFill(t, l, 40)
	if l.NumSegments() < 4 {
		t.Fatalf("%d segments, want at least 4", l.NumSegments())
	}
	var bases []int64
	for _, s := range *l.segs.Load() {
		bases = append(bases, s.base)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	faultCopyDir(t, src, dir)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil {
		t.Fatal(err)
	}

	// Find the batch to damage in segment 1, and its position there.
	victim, pos := -1, int64(0)
	for i, b := range want {
		h, _ := ParseBatchHeader(b)
		if h.BaseOffset < bases[1] {
			continue
		}
		if firstBatch || h.BaseOffset > bases[1] {
			victim = i
			break
		}
		pos += int64(len(b))
	}
	if victim < 0 || faultEnd(t, want[:victim+1], 0) > bases[2] {
		t.Fatalf("no batch to damage in segment %d", bases[1])
	}
	seg := faultSegmentPath(dir, bases[1])
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	data[pos+BatchHeaderSize+2] ^= 0x40
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}

	logger, logBuf := quietLogger(t)
	l, err = Open(dir, WithConfig(cfg), WithLogger(logger))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer func() { l.Close() }()
	kept := want[:victim]
	faultCheck(t, l, kept)
	if l.NumSegments() != 2 {
		t.Fatalf("%d segments after recovery, want 2", l.NumSegments())
	}
	if got := faultFileSize(t, seg); got != pos {
		t.Fatalf("segment %d is %d bytes, want %d", bases[1], got, pos)
	}
	for _, base := range bases[2:] {
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			p := filepath.Join(dir, segmentName(base)+suffix)
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s still there after recovery (%v)", filepath.Base(p), err)
			}
		}
	}
	out := logBuf.String()
	if !strings.Contains(out, "truncating") || !strings.Contains(out, "removing segment") {
		t.Fatalf("recovery did not warn about the cut and the removals:\n%s", out)
	}

	b := testBatch(t, CompressionNone, 3, 5000)
	faultAppend(t, l, b, faultEnd(t, kept, 0))
	kept = append(slices.Clone(kept), b)
	faultCheck(t, l, kept)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, WithConfig(cfg))
	faultCheck(t, l, kept)
}

// faultRecomputeCRC makes b's CRC match its contents again.
func faultRecomputeCRC(b []byte) {
	binary.BigEndian.PutUint32(b[batchOffCRC:], crc32.Checksum(b[batchOffAttributes:], castagnoli))
}

// TestRejectBadBatch appends malformed batches and checks that each is
// refused with the sentinel a broker maps to a Kafka error code, and leaves
// the log as it was.
func TestRejectBadBatch(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBatchBytes = 4096
	dir := t.TempDir()
	l := openTestLog(t, dir, WithConfig(cfg))
	defer func() { l.Close() }()
	want := faultFill(t, l, 5)

	valid := testBatch(t, CompressionNone, 5, 2000)
	mutate := func(f func(b []byte)) []byte {
		b := bytes.Clone(valid)
		f(b)
		return b
	}
	setLength := func(n int32) []byte {
		return mutate(func(b []byte) { binary.BigEndian.PutUint32(b[batchOffLength:], uint32(n)) })
	}
	length := int32(len(valid) - batchLengthOverhead)
	big := testBatchOf(t, CompressionNone, 2000, []Record{{Value: make([]byte, 3000)}, {OffsetDelta: 1, Value: make([]byte, 2000)}})

	type badCase struct {
		name  string
		batch []byte
		want  error
	}
	cases := []badCase{
		{"byte flipped in the records", mutate(func(b []byte) { b[len(b)-2] ^= 1 }), ErrCorruptBatch},
		{"crc flipped", mutate(func(b []byte) { b[batchOffCRC+3] ^= 0x80 }), ErrCorruptBatch},
		{"attributes changed", mutate(func(b []byte) { b[batchOffAttributes+1] ^= 0x08 }), ErrCorruptBatch},
		{"length one short", setLength(length - 1), ErrCorruptBatch},
		{"length shorter than a header", setLength(10), ErrCorruptBatch},
		{"length negative", setLength(-1), ErrCorruptBatch},
		{"length one long", setLength(length + 1), ErrBatchTooShort},
		{"length huge", setLength(1 << 30), ErrBatchTooShort},
		{"trailing byte", append(bytes.Clone(valid), 0), ErrCorruptBatch},
		{"magic 0", mutate(func(b []byte) { b[batchOffMagic] = 0 }), ErrBadMagic},
		{"magic 1", mutate(func(b []byte) { b[batchOffMagic] = 1 }), ErrBadMagic},
		{"magic 3", mutate(func(b []byte) { b[batchOffMagic] = 3 }), ErrBadMagic},
		{"zero records", mutate(func(b []byte) {
			binary.BigEndian.PutUint32(b[batchOffRecordCount:], 0)
			faultRecomputeCRC(b)
		}), ErrEmptyBatch},
		{"negative record count", mutate(func(b []byte) {
			binary.BigEndian.PutUint32(b[batchOffRecordCount:], 0xffffffff)
			faultRecomputeCRC(b)
		}), ErrEmptyBatch},
		{"over max.message.bytes", big, ErrBatchTooLarge},
	}
	for n := 0; n < len(valid); n++ {
		// Every prefix shorter than a header, then a sample of the rest.
		if n < BatchHeaderSize || n%7 == 0 || n == len(valid)-1 {
			cases = append(cases, badCase{"truncated to " + strconv.Itoa(n), bytes.Clone(valid[:n]), ErrBatchTooShort})
		}
	}

	endBefore, sizeBefore := l.EndOffset(), l.Size()
	segPath := faultSegmentPath(dir, 0)
	for _, tc := range cases {
		for _, assigned := range []bool{false, true} {
			b := bytes.Clone(tc.batch)
			var err error
			if assigned {
				if len(b) >= 8 {
					setBaseOffset(b, endBefore)
				}
				_, err = l.AppendAssigned(b)
			} else {
				_, err = l.Append(b, 1)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("%s (assigned %v): err %v, want %v", tc.name, assigned, err, tc.want)
			}
			if l.EndOffset() != endBefore || l.Size() != sizeBefore || faultFileSize(t, segPath) != sizeBefore {
				t.Fatalf("%s (assigned %v): log changed: end %d→%d, size %d→%d", tc.name, assigned,
					endBefore, l.EndOffset(), sizeBefore, l.Size())
			}
		}
	}
	faultCheck(t, l, want)

	// The size limit is inclusive, and a valid batch still goes in at the
	// next offset after all the refusals.
	cfg.MaxBatchBytes = len(big) - 1
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(bytes.Clone(big), -1); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("batch one byte over max.message.bytes: %v, want ErrBatchTooLarge", err)
	}
	cfg.MaxBatchBytes = len(big)
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	faultAppend(t, l, big, endBefore)
	faultCheck(t, l, append(want, big))
}

// faultInjector fails chosen operations on chosen files, and passes the
// rest to next (if any). Safe for concurrent use.
type faultInjector struct {
	next vfs.Injector

	mu     sync.Mutex
	op     vfs.Op
	suffix string // fail only files whose name ends so; "" for any
	armed  bool
	syncs  map[string]int // successful OpSync calls per file
}

func (f *faultInjector) arm(op vfs.Op, suffix string) {
	f.mu.Lock()
	f.op, f.suffix, f.armed = op, suffix, true
	f.mu.Unlock()
}

func (f *faultInjector) disarm() {
	f.mu.Lock()
	f.armed = false
	f.mu.Unlock()
}

func (f *faultInjector) syncCount(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs[name]
}

func (f *faultInjector) MaybeFail(op vfs.Op, name string, n int) (int, error) {
	f.mu.Lock()
	fail := f.armed && op == f.op && strings.HasSuffix(name, f.suffix)
	if op == vfs.OpSync && !fail {
		if f.syncs == nil {
			f.syncs = map[string]int{}
		}
		f.syncs[name]++
	}
	f.mu.Unlock()
	if fail {
		return 0, vfs.ErrInjected
	}
	if f.next != nil {
		return f.next.MaybeFail(op, name, n)
	}
	return n, nil
}

// TestDiskFull fills the disk in the middle of a batch: the append fails,
// the torn bytes are undone, and the log carries on once there is space.
// When the undo fails too, the log refuses writes until it is reopened,
// which recovers it.
func TestDiskFull(t *testing.T) {
	t.Run("torn write undone", func(t *testing.T) {
		df := vfs.NewDiskFull()
		dir := t.TempDir()
		l := openTestLog(t, dir, WithFS(vfs.WithInjector(vfs.Default, df)))
		want := faultFill(t, l, 10)
		endBefore, sizeBefore := l.EndOffset(), l.Size()

		b := testBatch(t, CompressionNone, 20, 3000)
		df.Arm(int64(len(b) / 2))
		for i := 0; i < 2; i++ { // the second time nothing fits at all
			if _, err := l.Append(bytes.Clone(b), -1); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append %d on a full disk: %v, want ENOSPC", i, err)
			}
			if l.EndOffset() != endBefore || l.Size() != sizeBefore {
				t.Fatalf("log changed: end %d→%d, size %d→%d", endBefore, l.EndOffset(), sizeBefore, l.Size())
			}
			if got := faultFileSize(t, faultSegmentPath(dir, 0)); got != sizeBefore {
				t.Fatalf("segment is %d bytes after the failed write, want %d", got, sizeBefore)
			}
			faultCheck(t, l, want)
		}

		df.Disarm()
		faultAppend(t, l, b, endBefore) // the producer's retry
		want = append(want, b)
		want = append(want, faultFill(t, l, 3)...)
		faultCheck(t, l, want)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openTestLog(t, dir)
		defer func() { l.Close() }()
		faultCheck(t, l, want)
	})

	t.Run("undo fails", func(t *testing.T) {
		df := vfs.NewDiskFull()
		inj := &faultInjector{next: df}
		dir := t.TempDir()
		l := openTestLog(t, dir, WithFS(vfs.WithInjector(vfs.Default, inj)))
		want := faultFill(t, l, 10)
		endBefore, sizeBefore := l.EndOffset(), l.Size()

		b := testBatch(t, CompressionNone, 20, 3000)
		df.Arm(int64(len(b) / 2))
		inj.arm(vfs.OpTruncate, logSuffix)
		if _, err := l.Append(b, -1); !errors.Is(err, ErrLogFailed) {
			t.Fatalf("append with a failing undo: %v, want ErrLogFailed", err)
		}
		df.Disarm()
		inj.disarm()
		if got := faultFileSize(t, faultSegmentPath(dir, 0)); got <= sizeBefore {
			t.Fatalf("segment is %d bytes, want the torn write left past %d", got, sizeBefore)
		}
		for _, assigned := range []bool{false, true} {
			var err error
			if assigned {
				c := testBatch(t, CompressionNone, 1, 3000)
				setBaseOffset(c, endBefore)
				_, err = l.AppendAssigned(c)
			} else {
				_, err = l.Append(testBatch(t, CompressionNone, 1, 3000), -1)
			}
			if !errors.Is(err, ErrLogFailed) {
				t.Fatalf("append to a failed log (assigned %v): %v, want ErrLogFailed", assigned, err)
			}
		}
		if l.EndOffset() != endBefore || l.Size() != sizeBefore {
			t.Fatalf("log changed: end %d→%d, size %d→%d", endBefore, l.EndOffset(), sizeBefore, l.Size())
		}
		faultCheck(t, l, want) // readers do not see the torn bytes
		if err := l.Close(); err != nil {
			t.Fatalf("close a failed log: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
			t.Fatalf("a failed log was marked clean on close (%v)", err)
		}

		logger, logBuf := quietLogger(t)
		l, err := Open(dir, WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { l.Close() }()
		faultCheck(t, l, want)
		if !strings.Contains(logBuf.String(), "truncating") {
			t.Fatalf("reopen did not cut the torn write:\n%s", logBuf)
		}
		want = append(want, faultFill(t, l, 2)...)
		faultCheck(t, l, want)
	})
}

// TestSyncFailure fails fsync: Flush reports it and does not move the
// recovery point, the log stays readable and writable, and a later Flush
// syncs what the failed ones did not, including a rolled segment whose
// background flush failed.
func TestSyncFailure(t *testing.T) {
	inj := &faultInjector{}
	cfg := smallConfig()
	cfg.SegmentBytes = 4096
	dir := t.TempDir()
	logger, logBuf := quietLogger(t)
	l := openTestLog(t, dir, WithFS(vfs.WithInjector(vfs.Default, inj)), WithConfig(cfg), WithLogger(logger))
	defer func() { l.Close() }()
	want := faultFill(t, l, 5)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	rp := l.RecoveryPoint()
	if rp != l.EndOffset() {
		t.Fatalf("recovery point %d after a flush, want %d", rp, l.EndOffset())
	}

	inj.arm(vfs.OpSync, "")
	segsBefore := l.NumSegments()
	for l.NumSegments() == segsBefore { // until a roll, whose background flush fails
		want = append(want, faultFill(t, l, 1)...)
	}
	l.bg.Wait()
	if !strings.Contains(logBuf.String(), "flush rolled segment") {
		t.Fatalf("the failed background flush was not logged:\n%s", logBuf)
	}
	// After a failed fsync the log refuses writes (the kernel may have
	// dropped the pages) but stays readable.
	if err := l.Flush(); !errors.Is(err, ErrLogFailed) && !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("flush after a failed fsync: %v", err)
	}
	if _, err := l.Append(testBatch(t, CompressionNone, 1, 1), 0); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append after a failed fsync: %v, want ErrLogFailed", err)
	}
	if l.RecoveryPoint() != rp {
		t.Fatalf("recovery point moved from %d to %d without a successful fsync", rp, l.RecoveryPoint())
	}
	faultCheck(t, l, want)

	// Reopening recovers: what the page cache still held is verified and
	// kept, and writes go on.
	inj.disarm()
	l.Close()
	l = openTestLog(t, dir, WithConfig(cfg))
	faultCheck(t, l, want)
	want = append(want, faultFill(t, l, 2)...)
	if err := l.Flush(); err != nil {
		t.Fatalf("flush after reopening: %v", err)
	}
	faultCheck(t, l, want)
}

// TestRollFailure fails the roll to a new segment in each of its steps:
// the append that needed the roll fails and leaves the log as it was,
// smaller batches still go into the old segment (readable and synced by
// Flush), and once the fault is gone the roll happens.
func TestRollFailure(t *testing.T) {
	faults := []struct {
		name   string
		op     vfs.Op
		suffix string
	}{
		{"create segment", vfs.OpCreate, logSuffix},
		{"write offset index", vfs.OpWrite, indexSuffix},
		{"write time index", vfs.OpWrite, timeIndexSuffix},
		{"sync dir", vfs.OpSyncDir, ""},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			inj := &faultInjector{}
			cfg := smallConfig()
			cfg.SegmentBytes = 8192
			cfg.IndexIntervalBytes = 1 // an index entry per batch
			dir := t.TempDir()
			l := openTestLog(t, dir, WithFS(vfs.WithInjector(vfs.Default, inj)), WithConfig(cfg))
			defer func() { l.Close() }()

			big := testBatchOf(t, CompressionNone, 4000, []Record{{Value: make([]byte, 1500)}})
			small := testBatch(t, CompressionNone, 2, 4000)
			var want [][]byte
			for l.Size()+int64(len(big)) <= cfg.SegmentBytes {
				want = append(want, faultFill(t, l, 1)...)
			}
			if room := cfg.SegmentBytes - l.Size(); room < int64(2*len(small)) {
				t.Fatalf("only %d bytes left in the segment; the test needs room for small batches", room)
			}
			endBefore, sizeBefore := l.EndOffset(), l.Size()

			inj.arm(fault.op, fault.suffix)
			for i := 0; i < 2; i++ {
				if _, err := l.Append(bytes.Clone(big), -1); !errors.Is(err, vfs.ErrInjected) {
					t.Fatalf("append needing a roll, try %d: %v, want the injected error", i, err)
				}
				if l.EndOffset() != endBefore || l.Size() != sizeBefore || l.NumSegments() != 1 {
					t.Fatalf("log changed: end %d→%d, size %d→%d, %d segments",
						endBefore, l.EndOffset(), sizeBefore, l.Size(), l.NumSegments())
				}
				if _, err := os.Stat(faultSegmentPath(dir, endBefore)); !os.IsNotExist(err) {
					t.Fatalf("the failed roll left segment %d behind (%v)", endBefore, err)
				}
				faultCheck(t, l, want)
			}

			// A batch that fits still goes into the old segment, where it
			// must be readable and made durable by Flush.
			inj.disarm()
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			seg := faultSegmentPath(dir, 0)
			syncs := inj.syncCount(seg)
			want = append(want, small)
			faultAppend(t, l, small, endBefore)
			faultCheck(t, l, want)
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if inj.syncCount(seg) == syncs {
				t.Fatalf("Flush did not sync the segment the last batch went to")
			}

			faultAppend(t, l, big, faultEnd(t, want, 0))
			want = append(want, big)
			if l.NumSegments() != 2 {
				t.Fatalf("%d segments after the roll, want 2", l.NumSegments())
			}
			want = append(want, faultFill(t, l, 3)...)
			faultCheck(t, l, want)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTestLog(t, dir, WithConfig(cfg))
			faultCheck(t, l, want)
		})
	}
}

// TestRollFailureUnsealFails fails a roll after sealing, and then the
// reading back of the sealed indexes that makes the segment active again:
// the log must refuse writes until it is reopened, and the reopened log
// holds exactly the acknowledged batches.
func TestRollFailureUnsealFails(t *testing.T) {
	readFault := &faultInjector{}
	createFault := &faultInjector{next: readFault}
	cfg := smallConfig()
	cfg.SegmentBytes = 4096
	dir := t.TempDir()
	l := openTestLog(t, dir, WithFS(vfs.WithInjector(vfs.Default, createFault)), WithConfig(cfg))
	big := testBatchOf(t, CompressionNone, 4000, []Record{{Value: make([]byte, 1000)}})
	var want [][]byte
	for l.Size()+int64(len(big)) <= cfg.SegmentBytes {
		want = append(want, faultFill(t, l, 1)...)
	}
	if l.tail.Load().seg.offIdx.entries() == 0 {
		t.Fatal("the active segment has no index entries to unseal")
	}
	endBefore := l.EndOffset()
	createFault.arm(vfs.OpCreate, logSuffix)
	readFault.arm(vfs.OpRead, indexSuffix)
	if _, err := l.Append(big, -1); !errors.Is(err, ErrLogFailed) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("append after a failed roll and unseal: %v, want ErrLogFailed and the injected error", err)
	}
	createFault.disarm()
	readFault.disarm()
	if _, err := l.Append(testBatch(t, CompressionNone, 1, 4000), -1); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append to a failed log: %v, want ErrLogFailed", err)
	}
	if l.EndOffset() != endBefore || l.NumSegments() != 1 {
		t.Fatalf("log changed: end %d→%d, %d segments", endBefore, l.EndOffset(), l.NumSegments())
	}
	faultCheck(t, l, want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, WithConfig(cfg))
	defer func() { l.Close() }()
	faultCheck(t, l, want)
	want = append(want, faultFill(t, l, 2)...)
	faultCheck(t, l, want)
}
