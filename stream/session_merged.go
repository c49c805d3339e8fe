package stream

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream/internal/engine"
)

// A session merged into a larger one leaves the store locally at once,
// and its changelog at the next commit, once the tombstone forwarded for
// it (on update) is acknowledged: with the delete logged at once, an
// instance that died with the tombstone lost but the delete arrived
// (different partitions) would leave the merged-away session downstream
// for good, since the record that merged it, processed again, finds only
// the larger session. A store restored before that commit holds both;
// resume deletes the sessions contained in another of their key (merged
// away: a merge's result holds every session merged into it) and, on
// update, forwards their tombstones again with the first record.

// sessionRef names a stored session.
type sessionRef struct {
	key        []byte
	start, end int64
}

// deleteMerged deletes a session merged away from the local store, and
// from the changelog at the next commit (logMerged).
func (a *sessionAgg[K, V, VA]) deleteMerged(s sessionRef) error {
	if err := a.local.Delete(s.key, s.start, s.end); err != nil {
		return err
	}
	a.unlogged = append(a.unlogged, sessionRef{key: bytes.Clone(s.key), start: s.start, end: s.end})
	return nil
}

// logMerged is an OnCommit callback: the sessions merged away since the
// last commit leave the changelog, unless one was stored again since.
func (a *sessionAgg[K, V, VA]) logMerged() error {
	for i, s := range a.unlogged {
		_, back, err := a.ss.Get(s.key, s.start, s.end)
		if err == nil && !back {
			err = a.ss.Delete(s.key, s.start, s.end)
		}
		if err != nil {
			a.unlogged = a.unlogged[i:]
			return err
		}
	}
	a.unlogged = a.unlogged[:0]
	return nil
}

// dropMergedAway deletes, after a restore, the sessions contained in
// another session of their key, and on update keeps them for
// sendTombstones.
func (a *sessionAgg[K, V, VA]) dropMergedAway() error {
	stale, err := mergedAway(a.ss)
	for _, s := range stale {
		if err == nil {
			err = a.deleteMerged(s)
		}
	}
	if !a.final {
		a.tombstones = stale
	}
	return err
}

// sendTombstones forwards the tombstones of the sessions dropMergedAway
// found, once.
func (a *sessionAgg[K, V, VA]) sendTombstones(c *engine.ProcCtx) error {
	for len(a.tombstones) > 0 {
		s := a.tombstones[0]
		k, err := a.ks.Decode(s.key)
		if err != nil {
			return err
		}
		gone := engine.Rec{Key: Windowed[K]{Key: k, Window: sessionWindow(s.start, s.end)}, Tombstone: true, TS: s.end}
		if err := c.Forward(gone); err != nil {
			return err
		}
		a.tombstones = a.tombstones[1:]
	}
	return nil
}

// mergedAway returns the sessions of a store that are contained in
// another session of their key.
func mergedAway(ss *state.SessionStore) ([]sessionRef, error) {
	var out, group []sessionRef
	var maxEnd int64
	flush := func() {
		// By start, larger end first: a session is contained in an
		// earlier one iff its end is at most the largest end before it.
		slices.SortFunc(group, func(x, y sessionRef) int {
			return cmp.Or(cmp.Compare(x.start, y.start), cmp.Compare(y.end, x.end))
		})
		for i, s := range group {
			if i > 0 && s.end <= maxEnd {
				out = append(out, s)
			}
			if i == 0 || s.end > maxEnd {
				maxEnd = s.end
			}
		}
		group = group[:0]
	}
	err := ss.All(func(key []byte, start, end int64, _ []byte) bool {
		if len(group) > 0 && !bytes.Equal(group[0].key, key) {
			flush()
		}
		group = append(group, sessionRef{key: bytes.Clone(key), start: start, end: end})
		return true
	})
	flush()
	return out, err
}
