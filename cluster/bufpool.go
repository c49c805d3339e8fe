package cluster

import (
	"math/bits"
	"sync"
)

// Frame buffers (requests read, responses encoded) come from a pool by
// size class, powers of two from 64 KiB to 128 MiB (above the 100 MiB
// default socket.request.max.bytes), so that a producer sending MiB
// requests or a consumer receiving MiB responses reuses the same memory
// instead of growing a fresh buffer for every frame. A connection holds
// buffers only while it reads, handles and answers a request: an idle
// connection holds none, and the garbage collector empties the pool when
// the load goes (sync.Pool drops what two collections found unused).
const (
	bufMinShift = 16 // 64 KiB: the smallest class
	bufMaxShift = 27 // 128 MiB: buffers above it are never pooled
)

var bufPools [bufMaxShift - bufMinShift + 1]sync.Pool

// bufClassFor returns the class of the smallest pooled buffer with room for
// n bytes; ok is false above the largest class.
func bufClassFor(n int) (class int, ok bool) {
	if n <= 1<<bufMinShift {
		return 0, true
	}
	shift := bits.Len(uint(n - 1)) // 1<<shift >= n
	if shift > bufMaxShift {
		return 0, false
	}
	return shift - bufMinShift, true
}

// getBuf returns an empty buffer with room for at least n bytes: an idle
// pooled one, or a new one of its class's size.
func getBuf(n int) []byte {
	if b := pooledBuf(n); b != nil {
		return b
	}
	c, ok := bufClassFor(n)
	if !ok {
		return make([]byte, 0, n)
	}
	return make([]byte, 0, 1<<(c+bufMinShift))
}

// pooledBuf returns an idle pooled buffer with room for n bytes, or nil if
// the pool has none: it never allocates one.
func pooledBuf(n int) []byte {
	c, ok := bufClassFor(n)
	if !ok {
		return nil
	}
	if p, _ := bufPools[c].Get().(*[]byte); p != nil {
		return (*p)[:0]
	}
	return nil
}

// putBuf gives b back to the pool, in the largest class it has room for;
// buffers under the smallest class or over the largest are dropped. The
// caller must not touch b afterwards.
func putBuf(b []byte) {
	n := cap(b)
	if n < 1<<bufMinShift {
		return
	}
	shift := bits.Len(uint(n)) - 1 // 1<<shift <= n
	if shift > bufMaxShift {
		return
	}
	b = b[:0]
	bufPools[shift-bufMinShift].Put(&b)
}
