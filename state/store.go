package state

import "errors"

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("state: store closed")

// KeyValue is a sorted map of byte strings: the one interface every store
// backend implements.
//
// Threading: a store belongs to one stream task, and a task runs on one
// goroutine at a time; implementations need not be safe for concurrent use
// unless they say so.
type KeyValue interface {
	// Get returns the value of key; ok is false when key is absent. The
	// returned slice is the caller's: the store does not change it later.
	Get(key []byte) (value []byte, ok bool, err error)
	// Put sets key to value. The store copies both; value must not be nil
	// (use Delete).
	Put(key, value []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(key []byte) error
	// Range calls fn for every pair with start <= key < end, in key order.
	// A nil start or end leaves that side open. fn returning false stops
	// the scan. The slices passed to fn are valid only during the call, and
	// fn must not change the store.
	Range(start, end []byte, fn func(key, value []byte) bool) error
	// Close releases the store; later calls return ErrClosed.
	Close() error
}

// PrefixEnd returns the smallest key greater than every key with prefix p,
// or nil when there is none (p is all 0xff): the end bound for a Range over
// a prefix.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
