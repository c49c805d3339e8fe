package state

import (
	"bytes"
	"unsafe"

	"github.com/google/btree"
)

// Memory is an in-memory KeyValue store: a B-tree for key order (Range),
// with a hash index over the same entries so that Get, and Put of a key
// already present, take one map lookup. Its contents are lost on Close;
// a changelog (see Logged) is what makes it durable.
type Memory struct {
	tree *btree.BTreeG[*entry]
	// index maps each entry's key to it. Its string keys share the
	// entries' key bytes (indexKey), which are never written after the
	// entry is made.
	index  map[string]*entry
	closed bool
}

// entry is one pair. key is the store's own copy, fixed for the entry's
// life; value is replaced, never changed in place, on Put.
type entry struct{ key, value []byte }

func entryLess(a, b *entry) bool { return bytes.Compare(a.key, b.key) < 0 }

// indexKey views an entry's key as a string without copying it: the
// bytes are the store's and immutable.
func indexKey(key []byte) string { return unsafe.String(unsafe.SliceData(key), len(key)) }

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{tree: btree.NewG(32, entryLess), index: map[string]*entry{}}
}

// Len is the number of keys in the store.
func (m *Memory) Len() int { return len(m.index) }

func (m *Memory) Get(key []byte) ([]byte, bool, error) {
	if m.closed {
		return nil, false, ErrClosed
	}
	e, ok := m.index[string(key)] // no copy: the compiler reads key in place
	if !ok {
		return nil, false, nil
	}
	// Stored values are never changed in place (Put replaces them), so
	// handing out the stored slice would be safe as long as callers don't
	// write into it; copy to make that the caller's freedom.
	return clone(e.value), true, nil
}

func (m *Memory) Put(key, value []byte) error {
	if m.closed {
		return ErrClosed
	}
	v := clone(value) // never nil: a present key has a value
	if e, ok := m.index[string(key)]; ok {
		e.value = v
		return nil
	}
	e := &entry{key: clone(key), value: v}
	m.tree.ReplaceOrInsert(e)
	m.index[indexKey(e.key)] = e
	return nil
}

func (m *Memory) Delete(key []byte) error {
	if m.closed {
		return ErrClosed
	}
	e, ok := m.index[string(key)]
	if !ok {
		return nil
	}
	delete(m.index, indexKey(e.key))
	m.tree.Delete(e)
	return nil
}

func (m *Memory) Range(start, end []byte, fn func(key, value []byte) bool) error {
	if m.closed {
		return ErrClosed
	}
	visit := func(e *entry) bool { return fn(e.key, e.value) }
	switch {
	case start == nil && end == nil:
		m.tree.Ascend(visit)
	case start == nil:
		m.tree.AscendLessThan(&entry{key: end}, visit)
	case end == nil:
		m.tree.AscendGreaterOrEqual(&entry{key: start}, visit)
	default:
		m.tree.AscendRange(&entry{key: start}, &entry{key: end}, visit)
	}
	return nil
}

// clone copies b into a new slice, never nil (empty for an empty b).
// make then copy is one allocation the compiler does not zero; append and
// bytes.Clone round up to a size class and clear the tail.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

func (m *Memory) Close() error {
	m.closed = true
	m.tree.Clear(false)
	m.index = nil
	return nil
}
