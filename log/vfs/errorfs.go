package vfs

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
)

// Op names a filesystem operation an Injector may fail.
type Op int

// The operations an Injector sees.
const (
	OpCreate Op = iota
	OpOpen
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpRemove
	OpRename
	OpList
	OpSyncDir
)

var opNames = [...]string{"create", "open", "read", "write", "sync", "truncate", "remove", "rename", "list", "syncdir"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op?"
}

// ErrInjected is the error an injector returns by default.
var ErrInjected = errors.New("vfs: injected error")

// ErrNoSpace is what a full disk returns.
var ErrNoSpace = syscall.ENOSPC

// Injector decides whether an operation fails. For OpWrite, n is the
// number of bytes about to be written; the injector returns how many of
// them to write before failing (a short, torn write) and the error, or
// (n, nil) to let the write through. For other operations n is 0 and only
// the error counts.
type Injector interface {
	MaybeFail(op Op, name string, n int) (int, error)
}

// InjectorFunc adapts a function to an Injector.
type InjectorFunc func(op Op, name string, n int) (int, error)

// MaybeFail implements Injector.
func (f InjectorFunc) MaybeFail(op Op, name string, n int) (int, error) { return f(op, name, n) }

// DiskFull is an Injector that lets Budget bytes be written and then fails
// every write with ENOSPC, writing what still fits first. It is safe for
// concurrent use.
type DiskFull struct {
	mu     sync.Mutex
	budget int64
	armed  atomic.Bool
}

// NewDiskFull returns a disabled DiskFull; Arm starts counting.
func NewDiskFull() *DiskFull { return &DiskFull{} }

// Arm makes the disk full after budget more bytes.
func (d *DiskFull) Arm(budget int64) {
	d.mu.Lock()
	d.budget = budget
	d.mu.Unlock()
	d.armed.Store(true)
}

// Disarm frees the disk again.
func (d *DiskFull) Disarm() { d.armed.Store(false) }

// MaybeFail implements Injector.
func (d *DiskFull) MaybeFail(op Op, _ string, n int) (int, error) {
	if op != OpWrite || !d.armed.Load() {
		return n, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if int64(n) <= d.budget {
		d.budget -= int64(n)
		return n, nil
	}
	fit := int(d.budget)
	d.budget = 0
	return fit, ErrNoSpace
}

// InjectingFS wraps an FS and consults an Injector before each operation.
type InjectingFS struct {
	FS
	inj Injector
}

// WithInjector returns fs with failures decided by inj.
func WithInjector(fs FS, inj Injector) *InjectingFS { return &InjectingFS{FS: fs, inj: inj} }

func (e *InjectingFS) check(op Op, name string) error {
	_, err := e.inj.MaybeFail(op, name, 0)
	return err
}

func (e *InjectingFS) wrap(f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &injectingFile{File: f, inj: e.inj}, nil
}

// Create implements FS.
func (e *InjectingFS) Create(name string) (File, error) {
	if err := e.check(OpCreate, name); err != nil {
		return nil, err
	}
	return e.wrap(e.FS.Create(name))
}

// OpenReadWrite implements FS.
func (e *InjectingFS) OpenReadWrite(name string) (File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	return e.wrap(e.FS.OpenReadWrite(name))
}

// Open implements FS.
func (e *InjectingFS) Open(name string) (File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	return e.wrap(e.FS.Open(name))
}

// Remove implements FS.
func (e *InjectingFS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.FS.Remove(name)
}

// Rename implements FS.
func (e *InjectingFS) Rename(oldname, newname string) error {
	if err := e.check(OpRename, oldname); err != nil {
		return err
	}
	return e.FS.Rename(oldname, newname)
}

// List implements FS.
func (e *InjectingFS) List(dir string) ([]string, error) {
	if err := e.check(OpList, dir); err != nil {
		return nil, err
	}
	return e.FS.List(dir)
}

// SyncDir implements FS.
func (e *InjectingFS) SyncDir(dir string) error {
	if err := e.check(OpSyncDir, dir); err != nil {
		return err
	}
	return e.FS.SyncDir(dir)
}

type injectingFile struct {
	File
	inj Injector
}

func (f *injectingFile) ReadAt(p []byte, off int64) (int, error) {
	if _, err := f.inj.MaybeFail(OpRead, f.Name(), 0); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *injectingFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.inj.MaybeFail(OpWrite, f.Name(), len(p))
	if err == nil {
		return f.File.WriteAt(p, off)
	}
	if n > 0 {
		if n > len(p) {
			n = len(p)
		}
		written, werr := f.File.WriteAt(p[:n], off)
		if werr != nil {
			return written, werr
		}
	}
	return n, err
}

func (f *injectingFile) Sync() error {
	if _, err := f.inj.MaybeFail(OpSync, f.Name(), 0); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *injectingFile) Truncate(size int64) error {
	if _, err := f.inj.MaybeFail(OpTruncate, f.Name(), 0); err != nil {
		return err
	}
	return f.File.Truncate(size)
}
