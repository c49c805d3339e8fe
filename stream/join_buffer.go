package stream

import (
	"fmt"
	"math"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream/internal/engine"
)

// streamJoiner is one task's stream-stream join. Both sides come through
// the one instance (tagged by joinSide), which owns the two buffers, the
// store of records still waiting for a partner (left and outer joins), and
// the join's stream time: the largest timestamp it has seen on either
// side.
//
// A record at time t of side S is buffered under t in S's buffer; it
// joins the records of the other buffer between t-before and t+after (S
// first) or t-after and t+before (S second), as in Kafka Streams. Its
// window closes when stream time passes t + after (first) or t + before
// (second), plus grace; a record that arrives that late is dropped. A
// left or outer join's unjoined result for a record is emitted when its
// window closes if it has joined nothing by then, and the record then
// leaves its buffer: it joins no later partner, so a record gives joined
// results or one unjoined result, never both. (Kafka Streams would join
// it with a later partner whose own window is open, after having emitted
// its unjoined result.) Buffers keep records for before+after+grace,
// longer than any partner of theirs can arrive, and expire them locally
// (their changelogs keep them a day longer).
//
// After a task moves, the join resumes from its restored stores: its
// stream time is the one saved under the first buffer's meta key at the
// last commit (see windowClock.resume, also for a changelog without
// one), so records processed again (those since the last commit) see the
// stream times they saw before: one that was late is late again, and one
// that was on time joins its partners again (those buffered before it,
// and those buffered after it before the move, which it joined then from
// their side: the same results), and gives its results again if they
// were lost. The pending
// store needs no saved close time: an emitted record is deleted from it,
// and from its buffer, in the changelogs at the first commit after its
// result was emitted: a move before that restores it, and the new
// instance emits it again when it finds its window closed, before it
// joins a record with it (emitAndExpire runs first in Process).
type streamJoiner[K, V1, V2, VR any] struct {
	spec        streamJoinSpec[K, V1, V2, VR]
	left, right *state.WindowStore
	pending     state.KeyValue // nil for an inner join

	streamTime int64
	emitting   int64 // stream time of the last emission of unjoined results
	emitted    int64 // emitting at the last commit (saved)
	saved      progress
	hasSaved   bool  // the first buffer's meta key holds saved
	nextClose  int64 // smallest close time in pending; MaxInt64 if none
	nextExpire int64 // the buffers are expired when their cutoff reaches it
	seq        uint32
	unlogged   []emittedRow // emitted since the last commit
}

// expireStepMs is the least stream-time step between two expiries of the
// buffers: an expiry scans the whole buffers, so it must not run per
// record.
const expireStepMs = 1000

func (j *streamJoiner[K, V1, V2, VR]) Init(c *engine.ProcCtx) error {
	j.streamTime, j.emitted, j.emitting = engine.NoStreamTime, engine.NoStreamTime, engine.NoStreamTime
	j.nextExpire, j.nextClose = math.MinInt64, math.MaxInt64
	left, err := c.Store(j.spec.left)
	if err != nil {
		return err
	}
	right, err := c.Store(j.spec.right)
	if err != nil {
		return err
	}
	j.left, j.right = &state.WindowStore{KV: left}, &state.WindowStore{KV: right}
	c.OnCommit(j.commit)
	if err := j.scanBuffer(j.spec.left, left); err != nil {
		return err
	}
	if err := j.scanBuffer(j.spec.right, right); err != nil {
		return err
	}
	if err := j.resume(); err != nil {
		return err
	}
	if j.spec.pending == "" {
		return nil
	}
	if j.pending, err = c.Store(j.spec.pending); err != nil {
		return err
	}
	return j.scanPending()
}

// resume takes the progress saved in the first buffer at the last
// commit (without one, the latest buffered record's time that scanBuffer
// found), and expires, locally, the buffered records the previous
// instance had expired.
func (j *streamJoiner[K, V1, V2, VR]) resume() error {
	p, ok, err := loadProgress(j.left)
	if err != nil {
		return fmt.Errorf("stream: join store %s: %w", j.spec.left, err)
	}
	if ok {
		j.saved, j.hasSaved = p, true
		j.streamTime, j.emitted, j.emitting = p.observed, p.emitted, p.emitted
	}
	if j.streamTime == engine.NoStreamTime {
		return nil
	}
	_, err = j.expire()
	return err
}

// saveProgress writes the stream time and emission progress under the
// first buffer's meta key, at a commit, if they moved or none was saved.
func (j *streamJoiner[K, V1, V2, VR]) saveProgress() error {
	p := progress{observed: j.streamTime, emitted: j.emitted}
	if j.hasSaved && p == j.saved {
		return nil
	}
	if err := j.left.PutMeta(p.encode()); err != nil {
		return err
	}
	j.saved, j.hasSaved = p, true
	return nil
}

// scanBuffer reads a restored buffer once for its largest sequence
// number and its latest record time (the join's stream time when it was
// written). The join numbers the records it buffers itself, rather than
// through WindowStore.Put, whose numbering restarts with each instance:
// a record of the same key and time buffered after a restore would
// replace one buffered before it.
func (j *streamJoiner[K, V1, V2, VR]) scanBuffer(name string, kv state.KeyValue) error {
	var derr error
	err := kv.Range(nil, nil, func(k, _ []byte) bool {
		if state.IsMetaKey(k) {
			return true
		}
		_, ts, seq, err := state.SplitWindowKey(k)
		derr = err
		j.seq, j.streamTime = max(j.seq, seq), max(j.streamTime, ts)
		return err == nil
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("stream: join store %s: %w", name, err)
	}
	return nil
}

// scanPending reads a restored pending store once: its first close time,
// and the largest sequence number, so new rows never replace old ones.
func (j *streamJoiner[K, V1, V2, VR]) scanPending() error {
	var derr error
	err := j.pending.Range(nil, nil, func(k, _ []byte) bool {
		p, err := splitPendingKey(k)
		if err != nil {
			derr = err
			return false
		}
		j.nextClose = min(j.nextClose, p.closeAt)
		j.seq = max(j.seq, p.seq)
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("stream: join store %s: %w", j.spec.pending, err)
	}
	return nil
}

func (j *streamJoiner[K, V1, V2, VR]) Process(c *engine.ProcCtx, r engine.Rec) error {
	side := r.Value.(joinSide)
	j.streamTime = max(j.streamTime, r.TS)
	if c.DropNulls(r) {
		return nil
	}
	if j.streamTime > j.closeAt(side.right, r.TS) {
		c.Drop("late", r)
		return nil
	}
	if err := j.emitAndExpire(c); err != nil {
		return err
	}
	kb, err := j.spec.ks.Encode(engine.As[K](r.Key))
	if err != nil {
		return fmt.Errorf("stream: join %s: encode key: %w", c.Node.Name, err)
	}
	vb, err := j.encodeOwn(side)
	if err != nil {
		return fmt.Errorf("stream: join %s: encode value: %w", c.Node.Name, err)
	}
	joined, err := j.joinBuffered(c, r, side, kb)
	if err != nil {
		return err
	}
	j.seq++
	if err := j.buffer(side.right).KV.Put(state.WindowKey(kb, r.TS, j.seq), vb); err != nil {
		return err
	}
	if !joined && j.spec.kind.unjoined(side.right) {
		return j.addPending(side.right, kb, r.TS, j.seq, vb)
	}
	return nil
}

func (j *streamJoiner[K, V1, V2, VR]) Close() error { return nil }

// emitAndExpire emits the unjoined results of closed windows and expires
// the buffers; the progress is saved at the next commit.
func (j *streamJoiner[K, V1, V2, VR]) emitAndExpire(c *engine.ProcCtx) error {
	if _, err := j.emitClosed(c); err != nil {
		return err
	}
	_, err := j.expire()
	return err
}

func (j *streamJoiner[K, V1, V2, VR]) buffer(right bool) *state.WindowStore {
	if right {
		return j.right
	}
	return j.left
}

// closeAt is the stream time after which the window of a record of the
// given side at ts is closed.
func (j *streamJoiner[K, V1, V2, VR]) closeAt(right bool, ts int64) int64 {
	return ts + j.ahead(right) + j.spec.grace
}

// ahead is how far after a record of the given side its window ends.
func (j *streamJoiner[K, V1, V2, VR]) ahead(right bool) int64 {
	if right {
		return j.spec.before
	}
	return j.spec.after
}

func (j *streamJoiner[K, V1, V2, VR]) encodeOwn(side joinSide) (b []byte, err error) {
	if side.right {
		b, err = j.spec.v2s.Encode(engine.As[V2](side.v))
	} else {
		b, err = j.spec.v1s.Encode(engine.As[V1](side.v))
	}
	if b == nil && err == nil {
		b = []byte{}
	}
	return b, err
}

type joinMatch struct {
	ts    int64
	value []byte
}

// joinBuffered forwards r joined with each partner in the other side's
// buffer, and takes the partners out of the pending store. It reports
// whether r found any.
//
// A partner whose window has closed still joins (it is in the buffer
// only if it gave no unjoined result). That also keeps records processed
// again after a task moved to the results they gave before if the
// stream time restored is past what they saw then (see resume).
func (j *streamJoiner[K, V1, V2, VR]) joinBuffered(c *engine.ProcCtx, r engine.Rec, side joinSide, kb []byte) (bool, error) {
	from, to := r.TS-j.ahead(!side.right), r.TS+j.ahead(side.right)
	var ms []joinMatch
	err := j.buffer(!side.right).Fetch(kb, from, to, func(ts int64, v []byte) bool {
		ms = append(ms, joinMatch{ts, append([]byte{}, v...)})
		return true
	})
	if err != nil {
		return false, err
	}
	for i, m := range ms {
		out, err := j.pair(side, m.value)
		if err != nil {
			return false, fmt.Errorf("stream: join %s: decode buffered value: %w", c.Node.Name, err)
		}
		if err := c.Forward(engine.Rec{Key: r.Key, Value: out, TS: max(r.TS, m.ts), Headers: r.Headers}); err != nil {
			return false, err
		}
		if j.pending != nil && j.spec.kind.unjoined(!side.right) && (i == 0 || ms[i-1].ts != m.ts) {
			if err := j.dropPending(!side.right, kb, m.ts); err != nil {
				return false, err
			}
		}
	}
	return len(ms) > 0, nil
}

// pair joins the record's own value with a partner's encoded value.
func (j *streamJoiner[K, V1, V2, VR]) pair(side joinSide, partner []byte) (VR, error) {
	if side.right {
		v1, err := j.spec.v1s.Decode(partner)
		v2 := engine.As[V2](side.v)
		return j.spec.f(&v1, &v2), err
	}
	v1 := engine.As[V1](side.v)
	v2, err := j.spec.v2s.Decode(partner)
	return j.spec.f(&v1, &v2), err
}

// expire drops buffered records no partner can join any more, from the
// local stores only, at most once per expireStepMs (or half the
// retention, if longer) of stream time; it reports whether it dropped
// any.
func (j *streamJoiner[K, V1, V2, VR]) expire() (bool, error) {
	retention := j.spec.before + j.spec.after + j.spec.grace
	cutoff := j.streamTime - retention
	if cutoff < j.nextExpire {
		return false, nil
	}
	n, err := j.left.Expire(cutoff)
	if err != nil {
		return false, err
	}
	m, err := j.right.Expire(cutoff)
	if err != nil {
		return false, err
	}
	j.nextExpire = cutoff + max(retention/2, expireStepMs)
	return n+m > 0, nil
}
