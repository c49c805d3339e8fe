package state

import (
	"encoding/binary"
	"fmt"
	"math"
)

// WindowStore keeps values per key and window start time on a KeyValue:
// the layout of windowed aggregations and of stream-stream join buffers.
//
// A stored key is len(key) as 4 bytes big-endian, the key, the window
// start as 8 bytes big-endian with the sign bit flipped (so negative times
// sort first), and a 4-byte sequence number that lets a join buffer keep
// several records with the same key and time. All windows of one key are
// thus contiguous and in time order. Times are Unix milliseconds.
//
// Put and Get use sequence number 0 (an aggregation: a window has one
// value). A store that keeps several values per key and time (a join
// buffer) numbers them itself and writes WindowKey(key, time, seq) to KV;
// Fetch, All, Expire and Delete see every sequence number.
type WindowStore struct {
	KV KeyValue
}

// windowSuffix is the start time and sequence number after the key.
const windowSuffix = 8 + 4

// metaKey is the one key of a window or session store that is no window:
// where the processor owning the store keeps its progress (its stream
// time, what it has emitted), so that it survives a restore with the
// windows. Its first 4 bytes would be the length of a 4 GiB key, so it
// is no window's or session's key and sorts after all of them; its first
// 9 bytes are no stream-stream join pending key either (side 0xff). The
// layouts' scans (All, Expire) skip it; Fetch and Find never
// reach it.
const metaKey = "\xff\xff\xff\xff\xff\xff\xff\xff\xffrunnel-meta"

// MetaKey returns the reserved meta key (a new slice each call).
func MetaKey() []byte { return []byte(metaKey) }

// IsMetaKey reports whether a stored key is the reserved meta key.
func IsMetaKey(k []byte) bool { return string(k) == metaKey }

// Meta returns the value stored under the meta key.
func (w *WindowStore) Meta() ([]byte, bool, error) { return w.KV.Get(MetaKey()) }

// PutMeta stores v under the meta key (through KV: it is logged).
func (w *WindowStore) PutMeta(v []byte) error { return w.KV.Put(MetaKey(), v) }

// WindowKey encodes a stored key.
func WindowKey(key []byte, start int64, seq uint32) []byte {
	b := make([]byte, 0, 4+len(key)+windowSuffix)
	b = binary.BigEndian.AppendUint32(b, uint32(len(key)))
	b = append(b, key...)
	b = binary.BigEndian.AppendUint64(b, uint64(start)^(1<<63))
	return binary.BigEndian.AppendUint32(b, seq)
}

// SplitWindowKey decodes a stored key. The returned key aliases b.
func SplitWindowKey(b []byte) (key []byte, start int64, seq uint32, err error) {
	if len(b) < 4+windowSuffix {
		return nil, 0, 0, fmt.Errorf("state: window key of %d bytes is too short", len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)) != 4+uint64(n)+windowSuffix {
		return nil, 0, 0, fmt.Errorf("state: window key of %d bytes says its key has %d", len(b), n)
	}
	key = b[4 : 4+n]
	start = int64(binary.BigEndian.Uint64(b[4+n:]) ^ (1 << 63))
	return key, start, binary.BigEndian.Uint32(b[4+n+8:]), nil
}

// Put stores value for key in the window starting at start, replacing
// the window's value.
func (w *WindowStore) Put(key []byte, start int64, value []byte) error {
	return w.KV.Put(WindowKey(key, start, 0), value)
}

// Get returns the value of key's window starting at start.
func (w *WindowStore) Get(key []byte, start int64) ([]byte, bool, error) {
	return w.KV.Get(WindowKey(key, start, 0))
}

// Delete removes key's window starting at start (every duplicate).
func (w *WindowStore) Delete(key []byte, start int64) error {
	var keys [][]byte
	err := w.KV.Range(WindowKey(key, start, 0), WindowKey(key, start+1, 0), func(k, _ []byte) bool {
		keys = append(keys, append([]byte(nil), k...))
		return true
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := w.KV.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Fetch calls fn for key's windows with from <= start <= to, in time
// order, until fn returns false. The value is valid only during fn.
func (w *WindowStore) Fetch(key []byte, from, to int64, fn func(start int64, value []byte) bool) error {
	var derr error
	var end []byte
	if to == math.MaxInt64 {
		end = PrefixEnd(WindowKey(key, 0, 0)[:4+len(key)])
	} else {
		end = WindowKey(key, to+1, 0)
	}
	err := w.KV.Range(WindowKey(key, from, 0), end, func(k, v []byte) bool {
		_, start, _, err := SplitWindowKey(k)
		if err != nil {
			derr = err
			return false
		}
		return fn(start, v)
	})
	if err != nil {
		return err
	}
	return derr
}

// All calls fn for every window with from <= start <= to, ordered by key
// then time, until fn returns false. It scans the whole store.
func (w *WindowStore) All(from, to int64, fn func(key []byte, start int64, value []byte) bool) error {
	var derr error
	err := w.KV.Range(nil, nil, func(k, v []byte) bool {
		if IsMetaKey(k) {
			return true
		}
		key, start, _, err := SplitWindowKey(k)
		if err != nil {
			derr = err
			return false
		}
		if start < from || start > to {
			return true
		}
		return fn(key, start, v)
	})
	if err != nil {
		return err
	}
	return derr
}

// Expire deletes every window that starts before before, in the local
// store only (see Local: no tombstone goes to the changelog), and
// returns how many it deleted: what retention removes. It scans the
// whole store, so callers run it once per retention step, not per
// record.
func (w *WindowStore) Expire(before int64) (int, error) {
	var old [][]byte
	err := w.KV.Range(nil, nil, func(k, _ []byte) bool {
		if _, start, _, err := SplitWindowKey(k); err == nil && start < before {
			old = append(old, append([]byte(nil), k...))
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	return len(old), deleteLocal(w.KV, old)
}

// deleteLocal deletes keys from kv's local store.
func deleteLocal(kv KeyValue, keys [][]byte) error {
	local := Local(kv)
	for _, k := range keys {
		if err := local.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
