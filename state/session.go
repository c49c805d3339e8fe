package state

import (
	"encoding/binary"
	"fmt"
	"math"
)

// SessionStore keeps one value per key and session on a KeyValue: the
// layout of session-windowed aggregations.
//
// A stored key is len(key) as 4 bytes big-endian, the key, then the
// session's end and start as 8 bytes big-endian each with the sign bit
// flipped (so negative times sort first). All sessions of one key are thus
// contiguous and ordered by end time, which is what Find scans: the
// sessions a new record may merge with are the key's latest ones. Start
// and end are both inclusive Unix milliseconds.
type SessionStore struct {
	KV KeyValue
}

// sessionSuffix is the end and start times after the key.
const sessionSuffix = 8 + 8

// SessionKey encodes a stored key.
func SessionKey(key []byte, start, end int64) []byte {
	b := make([]byte, 0, 4+len(key)+sessionSuffix)
	b = binary.BigEndian.AppendUint32(b, uint32(len(key)))
	b = append(b, key...)
	b = binary.BigEndian.AppendUint64(b, uint64(end)^(1<<63))
	return binary.BigEndian.AppendUint64(b, uint64(start)^(1<<63))
}

// SplitSessionKey decodes a stored key. The returned key aliases b.
func SplitSessionKey(b []byte) (key []byte, start, end int64, err error) {
	if len(b) < 4+sessionSuffix {
		return nil, 0, 0, fmt.Errorf("state: session key of %d bytes is too short", len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)) != 4+uint64(n)+sessionSuffix {
		return nil, 0, 0, fmt.Errorf("state: session key of %d bytes says its key has %d", len(b), n)
	}
	key = b[4 : 4+n]
	end = int64(binary.BigEndian.Uint64(b[4+n:]) ^ (1 << 63))
	start = int64(binary.BigEndian.Uint64(b[4+n+8:]) ^ (1 << 63))
	return key, start, end, nil
}

// Put stores value for key's session [start, end], replacing it.
func (s *SessionStore) Put(key []byte, start, end int64, value []byte) error {
	return s.KV.Put(SessionKey(key, start, end), value)
}

// Get returns the value of key's session [start, end].
func (s *SessionStore) Get(key []byte, start, end int64) ([]byte, bool, error) {
	return s.KV.Get(SessionKey(key, start, end))
}

// Delete removes key's session [start, end].
func (s *SessionStore) Delete(key []byte, start, end int64) error {
	return s.KV.Delete(SessionKey(key, start, end))
}

// Find calls fn for key's sessions with end >= earliestEnd and start <=
// latestStart, ordered by end then start, until fn returns false: the
// sessions that overlap [earliestEnd, latestStart]. It scans the key's
// sessions that end at or after earliestEnd. The value is valid only
// during fn, and fn must not change the store.
func (s *SessionStore) Find(key []byte, earliestEnd, latestStart int64, fn func(start, end int64, value []byte) bool) error {
	prefix := SessionKey(key, 0, 0)[:4+len(key)]
	var derr error
	err := s.KV.Range(SessionKey(key, math.MinInt64, earliestEnd), PrefixEnd(prefix), func(k, v []byte) bool {
		_, start, end, err := SplitSessionKey(k)
		if err != nil {
			derr = err
			return false
		}
		if start > latestStart {
			return true
		}
		return fn(start, end, v)
	})
	if err != nil {
		return err
	}
	return derr
}

// All calls fn for every session, ordered by key then end, until fn
// returns false. It scans the whole store.
func (s *SessionStore) All(fn func(key []byte, start, end int64, value []byte) bool) error {
	var derr error
	err := s.KV.Range(nil, nil, func(k, v []byte) bool {
		if IsMetaKey(k) {
			return true
		}
		key, start, end, err := SplitSessionKey(k)
		if err != nil {
			derr = err
			return false
		}
		return fn(key, start, end, v)
	})
	if err != nil {
		return err
	}
	return derr
}

// Expire deletes every session that ends before before, in the local
// store only (see Local: no tombstone goes to the changelog), and
// returns how many it deleted: what retention removes. It scans the
// whole store, so callers run it once per retention step, not per
// record.
func (s *SessionStore) Expire(before int64) (int, error) {
	var old [][]byte
	err := s.KV.Range(nil, nil, func(k, _ []byte) bool {
		if _, _, end, err := SplitSessionKey(k); err == nil && end < before {
			old = append(old, append([]byte(nil), k...))
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	return len(old), deleteLocal(s.KV, old)
}

// Meta returns the value stored under the meta key (see MetaKey).
func (s *SessionStore) Meta() ([]byte, bool, error) { return s.KV.Get(MetaKey()) }

// PutMeta stores v under the meta key (through KV: it is logged).
func (s *SessionStore) PutMeta(v []byte) error { return s.KV.Put(MetaKey(), v) }
