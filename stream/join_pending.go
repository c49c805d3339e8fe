package stream

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream/internal/engine"
)

// The pending store of a left or outer stream-stream join holds the
// records that have found no partner yet and whose side gives a result
// without one. Its keys sort by the time the record's window closes, so
// the records to emit are always a prefix:
//
//	close time (8 bytes big-endian, sign bit flipped) | side (0 first, 1
//	second) | state.WindowKey(key, record time, sequence)
//
// and the value is the record's encoded value; the sequence number is the
// record's in its buffer. A record leaves the store when a partner
// arrives (every record of that side, key and time goes: they all join
// the same partners) or when its window closes and its unjoined result
// is emitted (it then leaves its buffer too, first: a changelog that
// ends between the two deletes, an instance that died, restores a record
// that will give its unjoined result again, never one that may still
// join). An emitted record leaves both stores locally at once, and their
// changelogs at the next commit, when its result is acknowledged (see
// emittedRow).

type pendingKey struct {
	closeAt int64
	right   bool
	key     []byte
	ts      int64
	seq     uint32
}

func (p pendingKey) encode() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 9+4+len(p.key)+12), uint64(p.closeAt)^(1<<63))
	side := byte(0)
	if p.right {
		side = 1
	}
	b = append(b, side)
	return append(b, state.WindowKey(p.key, p.ts, p.seq)...)
}

// prefix is the encoded key without the sequence number: the range of
// every record of one side, key and time.
func (p pendingKey) prefix() []byte {
	b := p.encode()
	return b[:len(b)-4]
}

func splitPendingKey(b []byte) (pendingKey, error) {
	if len(b) < 9 || b[8] > 1 {
		return pendingKey{}, fmt.Errorf("stream: bad pending join key %x", b)
	}
	key, ts, seq, err := state.SplitWindowKey(b[9:])
	if err != nil {
		return pendingKey{}, err
	}
	return pendingKey{
		closeAt: int64(binary.BigEndian.Uint64(b) ^ (1 << 63)), right: b[8] == 1,
		key: key, ts: ts, seq: seq,
	}, nil
}

// addPending keeps a record that found no partner until its window
// closes; seq is its sequence number in its buffer.
func (j *streamJoiner[K, V1, V2, VR]) addPending(right bool, kb []byte, ts int64, seq uint32, vb []byte) error {
	p := pendingKey{closeAt: j.closeAt(right, ts), right: right, key: kb, ts: ts, seq: seq}
	if err := j.pending.Put(p.encode(), vb); err != nil {
		return err
	}
	j.nextClose = min(j.nextClose, p.closeAt)
	return nil
}

// dropPending removes the records of a side, key and time that just
// found a partner.
func (j *streamJoiner[K, V1, V2, VR]) dropPending(right bool, kb []byte, ts int64) error {
	prefix := pendingKey{closeAt: j.closeAt(right, ts), right: right, key: kb, ts: ts}.prefix()
	var keys [][]byte
	err := j.pending.Range(prefix, state.PrefixEnd(prefix), func(k, _ []byte) bool {
		keys = append(keys, append([]byte(nil), k...))
		return true
	})
	for _, k := range keys {
		if err == nil {
			err = j.pending.Delete(k)
		}
	}
	return err
}

type pendingRow struct{ key, value []byte }

// emitClosed forwards the unjoined result of every pending record whose
// window has closed, in close-time order, and removes it; it reports
// whether it forwarded any. It scans only when stream time has passed
// the earliest close time.
func (j *streamJoiner[K, V1, V2, VR]) emitClosed(c *engine.ProcCtx) (bool, error) {
	if j.pending == nil || j.streamTime <= j.nextClose {
		return false, nil
	}
	var rows []pendingRow
	next := int64(math.MaxInt64)
	var derr error
	err := j.pending.Range(nil, nil, func(k, v []byte) bool {
		p, err := splitPendingKey(k)
		if err != nil {
			derr = err
			return false
		}
		if p.closeAt >= j.streamTime {
			next = p.closeAt
			return false
		}
		rows = append(rows, pendingRow{append([]byte(nil), k...), append([]byte{}, v...)})
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return false, fmt.Errorf("stream: join store %s: %w", j.spec.pending, err)
	}
	j.nextClose = next
	for _, row := range rows {
		if err := j.emitUnjoined(c, row); err != nil {
			return false, err
		}
	}
	j.emitting = j.streamTime
	return len(rows) > 0, nil
}

func (j *streamJoiner[K, V1, V2, VR]) emitUnjoined(c *engine.ProcCtx, row pendingRow) error {
	p, err := splitPendingKey(row.key)
	if err != nil {
		return err
	}
	k, err := j.spec.ks.Decode(p.key)
	if err != nil {
		return fmt.Errorf("stream: join %s: decode pending key: %w", c.Node.Name, err)
	}
	var out VR
	if p.right {
		v2, err := j.spec.v2s.Decode(row.value)
		if err != nil {
			return fmt.Errorf("stream: join %s: decode pending value: %w", c.Node.Name, err)
		}
		out = j.spec.f(nil, &v2)
	} else {
		v1, err := j.spec.v1s.Decode(row.value)
		if err != nil {
			return fmt.Errorf("stream: join %s: decode pending value: %w", c.Node.Name, err)
		}
		out = j.spec.f(&v1, nil)
	}
	if err := c.Forward(engine.Rec{Key: k, Value: out, TS: p.ts}); err != nil {
		return err
	}
	d := emittedRow{right: p.right, buffered: state.WindowKey(p.key, p.ts, p.seq), pending: row.key}
	if err := state.Local(j.buffer(p.right).KV).Delete(d.buffered); err != nil {
		return err
	}
	if err := state.Local(j.pending).Delete(d.pending); err != nil {
		return err
	}
	j.unlogged = append(j.unlogged, d)
	return nil
}

// emittedRow is a record whose unjoined result was emitted since the last
// commit: it left its buffer and the pending store locally, and leaves
// their changelogs at the next commit, once the result is acknowledged.
// Until then a changelog restores it, and a new instance emits it again
// (at-least-once): with the deletes logged at once, an instance that died
// with the result unacknowledged but the deletes acknowledged (different
// partitions) would lose the result.
type emittedRow struct {
	right             bool
	buffered, pending []byte
}

// commit is the join's OnCommit callback: the unjoined results emitted so
// far are acknowledged, so their records leave the changelogs (buffer
// first, then pending: see the top of this file), and the stream time is
// saved as of this commit. The deletes and the progress are acknowledged
// by the next commit; a move before it emits those results again.
func (j *streamJoiner[K, V1, V2, VR]) commit() error {
	for i, d := range j.unlogged {
		if err := j.buffer(d.right).KV.Delete(d.buffered); err != nil {
			j.unlogged = j.unlogged[i:]
			return err
		}
		if err := j.pending.Delete(d.pending); err != nil {
			j.unlogged = j.unlogged[i:]
			return err
		}
	}
	j.unlogged = j.unlogged[:0]
	j.emitted = j.emitting
	return j.saveProgress()
}
