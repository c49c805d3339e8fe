package log

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/runnel-io/runnel/log/vfs"
)

// A sparse index maps keys that grow along a segment to positions or
// offsets: the offset index maps relative offset → file position, the time
// index maps max-timestamp-so-far → relative offset. One entry is added per
// index.interval.bytes of log data.
//
// The active segment's index lives in memory (appends cost no system call)
// and is written to its file when the segment is sealed or the log closes;
// after a crash it is rebuilt by the recovery scan. A sealed segment's index
// is searched in its file with positional reads, so memory use does not
// grow with the size of the log.
type index struct {
	entrySize int
	mu        struct {
		sync.RWMutex
		mem  []byte   // entries, while the segment is active
		file vfs.File // the index file, once sealed
		n    int      // number of entries
	}
	// summary caches the first entry of each page of a sealed index's
	// file; nil until the first lookup, reset when the file goes.
	summary atomic.Pointer[[]byte]
}

const (
	offsetEntrySize = 8  // relOffset uint32, position uint32
	timeEntrySize   = 12 // timestamp int64, relOffset uint32
)

func newIndex(entrySize int) *index { return &index{entrySize: entrySize} }

// entries returns the number of entries.
func (ix *index) entries() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.mu.n
}

// appendEntry adds an entry to an active index. Writer only.
func (ix *index) appendEntry(e []byte) {
	ix.mu.Lock()
	ix.mu.mem = append(ix.mu.mem, e...)
	ix.mu.n++
	ix.mu.Unlock()
}

// readEntryLocked copies entry i into buf.
func (ix *index) readEntryLocked(i int, buf []byte) error {
	if ix.mu.file == nil {
		copy(buf, ix.mu.mem[i*ix.entrySize:])
		return nil
	}
	_, err := ix.mu.file.ReadAt(buf[:ix.entrySize], int64(i*ix.entrySize))
	if err != nil {
		return fmt.Errorf("log: read index %s entry %d: %w", ix.mu.file.Name(), i, err)
	}
	return nil
}

// indexPageBytes is the unit a sealed index is read in: one pread per
// lookup, after an in-memory search of the pages' first entries.
const indexPageBytes = 4096

var indexPagePool = sync.Pool{New: func() any { return new([indexPageBytes]byte) }}

// floor returns the last entry whose key (decoded by key) is <= target,
// and false if every entry's key is greater (or there are none).
func (ix *index) floor(target int64, key func([]byte) int64) ([]byte, bool, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.mu.file != nil {
		return ix.floorFileLocked(target, key)
	}
	es := ix.entrySize
	i := searchEntries(ix.mu.mem[:ix.mu.n*es], es, target, key)
	if i == 0 {
		return nil, false, nil
	}
	return slices.Clone(ix.mu.mem[(i-1)*es : i*es]), true, nil
}

// searchEntries returns how many of the entries in b have key <= target.
func searchEntries(b []byte, es int, target int64, key func([]byte) int64) int {
	return sort.Search(len(b)/es, func(i int) bool { return key(b[i*es:(i+1)*es]) > target })
}

// floorFileLocked searches a sealed index: the summary (the first entry
// of every page, kept in memory: 40 KiB per 10 GiB of log) finds the page,
// one pread reads it.
func (ix *index) floorFileLocked(target int64, key func([]byte) int64) ([]byte, bool, error) {
	sum, err := ix.summaryLocked()
	if err != nil {
		return nil, false, err
	}
	es, pe := ix.entrySize, indexPageBytes/ix.entrySize
	page := searchEntries(sum, es, target, key) - 1
	if page < 0 {
		return nil, false, nil
	}
	first, cnt := page*pe, min(pe, ix.mu.n-page*pe)
	bp := indexPagePool.Get().(*[indexPageBytes]byte)
	defer indexPagePool.Put(bp)
	buf := bp[:cnt*es]
	if _, err := ix.mu.file.ReadAt(buf, int64(first*es)); err != nil {
		return nil, false, fmt.Errorf("log: read index %s page %d: %w", ix.mu.file.Name(), page, err)
	}
	i := searchEntries(buf, es, target, key)
	if i == 0 { // the file changed under the summary: only corruption does that
		return nil, false, fmt.Errorf("%w: %s page %d", ErrCorruptIndex, ix.mu.file.Name(), page)
	}
	return slices.Clone(buf[(i-1)*es : i*es]), true, nil
}

// summaryLocked returns the first entry of every page of a sealed index,
// reading the file once, on first use.
func (ix *index) summaryLocked() ([]byte, error) {
	if p := ix.summary.Load(); p != nil {
		return *p, nil
	}
	es, pe := ix.entrySize, indexPageBytes/ix.entrySize
	pages := (ix.mu.n + pe - 1) / pe
	sum := make([]byte, 0, pages*es)
	const chunkPages = 16
	chunk := make([]byte, chunkPages*indexPageBytes)
	for page := 0; page < pages; page += chunkPages {
		n := min(chunkPages*pe, ix.mu.n-page*pe) * es
		if _, err := ix.mu.file.ReadAt(chunk[:n], int64(page*pe*es)); err != nil {
			return nil, fmt.Errorf("log: read index %s: %w", ix.mu.file.Name(), err)
		}
		for off := 0; off < n; off += pe * es {
			sum = append(sum, chunk[off:off+es]...)
		}
	}
	ix.summary.Store(&sum)
	return sum, nil
}

// last returns the last entry.
func (ix *index) last() ([]byte, bool, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.mu.n == 0 {
		return nil, false, nil
	}
	buf := make([]byte, ix.entrySize)
	if err := ix.readEntryLocked(ix.mu.n-1, buf); err != nil {
		return nil, false, err
	}
	return buf, true, nil
}

// truncateWhere drops the trailing entries for which drop is true. Only
// for an active index.
func (ix *index) truncateWhere(drop func([]byte) bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for ix.mu.n > 0 && drop(ix.mu.mem[(ix.mu.n-1)*ix.entrySize:ix.mu.n*ix.entrySize]) {
		ix.mu.n--
	}
	ix.mu.mem = ix.mu.mem[:ix.mu.n*ix.entrySize]
}

// reset empties an active index.
func (ix *index) reset() {
	ix.mu.Lock()
	ix.mu.mem = ix.mu.mem[:0]
	ix.mu.n = 0
	ix.mu.Unlock()
}

// writeFile writes the in-memory entries to path and switches the index to
// file-backed reads. The file is not synced; the caller syncs it with the
// segment.
func (ix *index) writeFile(fs vfs.FS, path string) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.mu.file != nil {
		return nil
	}
	f, err := fs.Create(path)
	if err != nil {
		return fmt.Errorf("log: create index %s: %w", path, err)
	}
	if _, err := f.WriteAt(ix.mu.mem, 0); err != nil {
		f.Close()
		return fmt.Errorf("log: write index %s: %w", path, err)
	}
	ix.mu.file = f
	ix.mu.mem = nil
	return nil
}

// openFile makes a sealed index read path of an existing index file,
// checking that its size is a whole number of entries.
func (ix *index) openFile(fs vfs.FS, path string) error {
	if ok, err := fs.Exists(path); err != nil || !ok {
		return fmt.Errorf("%w: %s missing (%v)", ErrCorruptIndex, path, err)
	}
	f, err := fs.OpenReadWrite(path)
	if err != nil {
		return fmt.Errorf("log: open index %s: %w", path, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return fmt.Errorf("log: stat index %s: %w", path, err)
	}
	if size%int64(ix.entrySize) != 0 {
		f.Close()
		return fmt.Errorf("%w: index %s size %d is not a multiple of %d", ErrCorruptIndex, path, size, ix.entrySize)
	}
	ix.mu.Lock()
	ix.mu.file = f
	ix.mu.n = int(size / int64(ix.entrySize))
	ix.mu.Unlock()
	return nil
}

// loadToMem turns a file-backed index back into an active one (after a
// truncation makes a sealed segment active again).
func (ix *index) loadToMem() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.mu.file == nil {
		return nil
	}
	mem := make([]byte, ix.mu.n*ix.entrySize)
	if _, err := ix.mu.file.ReadAt(mem, 0); err != nil && err != io.EOF {
		return fmt.Errorf("log: load index %s: %w", ix.mu.file.Name(), err)
	}
	ix.mu.file.Close()
	ix.mu.file = nil
	ix.summary.Store(nil)
	ix.mu.mem = mem
	return nil
}

// sync makes a file-backed index durable.
func (ix *index) sync() error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.mu.file == nil {
		return nil
	}
	return ix.mu.file.Sync()
}

func (ix *index) close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.mu.file == nil {
		return nil
	}
	err := ix.mu.file.Close()
	ix.mu.file = nil
	ix.summary.Store(nil)
	return err
}

// Offset index entries.

func offsetEntry(rel uint32, pos uint32) []byte {
	var e [offsetEntrySize]byte
	binary.BigEndian.PutUint32(e[0:], rel)
	binary.BigEndian.PutUint32(e[4:], pos)
	return e[:]
}

func offsetEntryRel(e []byte) int64 { return int64(binary.BigEndian.Uint32(e[0:])) }
func offsetEntryPos(e []byte) int64 { return int64(binary.BigEndian.Uint32(e[4:])) }

// Time index entries.

func timeEntry(ts int64, rel uint32) []byte {
	var e [timeEntrySize]byte
	binary.BigEndian.PutUint64(e[0:], uint64(ts))
	binary.BigEndian.PutUint32(e[8:], rel)
	return e[:]
}

func timeEntryTs(e []byte) int64  { return int64(binary.BigEndian.Uint64(e[0:])) }
func timeEntryRel(e []byte) int64 { return int64(binary.BigEndian.Uint32(e[8:])) }
