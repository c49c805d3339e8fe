package state

import (
	"bytes"

	"github.com/google/btree"
)

// Memory is an in-memory KeyValue store (a B-tree). Its contents are lost
// on Close; a changelog (see Logged) is what makes it durable.
type Memory struct {
	tree   *btree.BTreeG[pair]
	closed bool
}

type pair struct{ key, value []byte }

func pairLess(a, b pair) bool { return bytes.Compare(a.key, b.key) < 0 }

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{tree: btree.NewG(32, pairLess)}
}

// Len is the number of keys in the store.
func (m *Memory) Len() int { return m.tree.Len() }

func (m *Memory) Get(key []byte) ([]byte, bool, error) {
	if m.closed {
		return nil, false, ErrClosed
	}
	p, ok := m.tree.Get(pair{key: key})
	if !ok {
		return nil, false, nil
	}
	// Stored values are never changed in place (Put replaces the pair), so
	// handing out the stored slice is safe as long as callers don't write
	// into it; copy to make that the caller's freedom.
	return append([]byte(nil), p.value...), true, nil
}

func (m *Memory) Put(key, value []byte) error {
	if m.closed {
		return ErrClosed
	}
	if value == nil {
		value = []byte{}
	}
	m.tree.ReplaceOrInsert(pair{key: bytes.Clone(key), value: bytes.Clone(value)})
	return nil
}

func (m *Memory) Delete(key []byte) error {
	if m.closed {
		return ErrClosed
	}
	m.tree.Delete(pair{key: key})
	return nil
}

func (m *Memory) Range(start, end []byte, fn func(key, value []byte) bool) error {
	if m.closed {
		return ErrClosed
	}
	visit := func(p pair) bool { return fn(p.key, p.value) }
	switch {
	case start == nil && end == nil:
		m.tree.Ascend(visit)
	case start == nil:
		m.tree.AscendLessThan(pair{key: end}, visit)
	case end == nil:
		m.tree.AscendGreaterOrEqual(pair{key: start}, visit)
	default:
		m.tree.AscendRange(pair{key: start}, pair{key: end}, visit)
	}
	return nil
}

func (m *Memory) Close() error {
	m.closed = true
	m.tree.Clear(false)
	return nil
}
