package main

import (
	"slices"
	"sync"
	"time"
)

// bucketDur is the width of a consumption-rate bucket.
const bucketDur = 100 * time.Millisecond

// tracker follows one group during a round: who owns each partition (from
// the members' OnPartitionsAssigned/Revoked/Lost callbacks), what each
// member delivers from its polls, and how many records were consumed in
// each 100 ms bucket. It decides when the group "consumes again" after an
// event.
//
// Threading: every method may be called from any goroutine (the members'
// poll loops and kgo's group goroutines); mu guards everything.
type tracker struct {
	start time.Time // bucket 0 begins here

	mu struct {
		sync.Mutex
		owner   []int           // partition → member index, -1: none
		ok      []bool          // partition's owner delivered from it since the event and since it got it
		got     []bool          // partition's owner delivered from it since it got it
		last    []time.Time     // partition's last delivery to a live member
		gap     []time.Duration // partition's longest time without a delivery, ending while armed
		nOK     int
		alive   []bool
		owned   []int     // member → partitions it owns
		buckets []int64   // records consumed by live members, per bucketDur since start
		changed time.Time // last ownership change
		armed   bool      // an event is being timed
		need    int       // a member that must own partitions to be done (a joiner), -1: none
		done    chan time.Time
		strays  int // records from partitions the member did not own (per the callbacks)
	}
}

func newTracker(partitions int32, start time.Time) *tracker {
	t := &tracker{start: start}
	t.mu.owner = make([]int, partitions)
	for i := range t.mu.owner {
		t.mu.owner[i] = -1
	}
	t.mu.ok = make([]bool, partitions)
	t.mu.got = make([]bool, partitions)
	t.mu.last = make([]time.Time, partitions)
	t.mu.gap = make([]time.Duration, partitions)
	return t
}

// addMember registers member index i as alive, owning nothing.
func (t *tracker) addMember(i int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.mu.alive) <= i {
		t.mu.alive = append(t.mu.alive, false)
		t.mu.owned = append(t.mu.owned, 0)
	}
	t.mu.alive[i] = true
}

// assigned records that member i now owns ps (which it has not delivered
// from yet).
func (t *tracker) assigned(i int, ps []int32) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.mu.alive[i] {
		return
	}
	for _, p := range ps {
		if o := t.mu.owner[p]; o >= 0 {
			t.mu.owned[o]--
		}
		t.mu.owner[p] = i
		t.mu.owned[i]++
		t.mu.got[p] = false
		t.setOKLocked(p, false)
	}
	t.mu.changed = now
	t.checkLocked(now)
}

// revoked records that member i gave up ps (revoked or lost).
func (t *tracker) revoked(i int, ps []int32) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range ps {
		if t.mu.owner[p] == i {
			t.disownLocked(p)
		}
	}
	t.mu.changed = now
}

// dead records that member i is gone (killed or leaving) as of now: what
// it owns is nobody's, and what it does from now on does not count.
func (t *tracker) dead(i int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mu.alive[i] = false
	for p, o := range t.mu.owner {
		if o == i {
			t.disownLocked(int32(p))
		}
	}
}

func (t *tracker) disownLocked(p int32) {
	t.mu.owned[t.mu.owner[p]]--
	t.mu.owner[p] = -1
	t.mu.got[p] = false
	t.setOKLocked(p, false)
}

func (t *tracker) setOKLocked(p int32, ok bool) {
	if t.mu.ok[p] != ok {
		t.mu.ok[p] = ok
		if ok {
			t.mu.nOK++
		} else {
			t.mu.nOK--
		}
	}
}

// delivered records that member i's poll returned n records of
// partition p at time at.
func (t *tracker) delivered(i int, p int32, n int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.mu.alive[i] {
		return
	}
	b := int(at.Sub(t.start) / bucketDur)
	for len(t.mu.buckets) <= b {
		t.mu.buckets = append(t.mu.buckets, 0)
	}
	t.mu.buckets[b] += int64(n)
	if t.mu.armed && !t.mu.last[p].IsZero() {
		t.mu.gap[p] = max(t.mu.gap[p], at.Sub(t.mu.last[p]))
	}
	t.mu.last[p] = at
	if t.mu.owner[p] != i {
		t.mu.strays += n
		return
	}
	t.mu.got[p] = true
	if !t.mu.ok[p] {
		t.setOKLocked(p, true)
		t.checkLocked(at)
	}
}

// arm starts timing an event: from now, every partition must be owned by a
// live member and deliver a record to it again; need, if not -1, must own
// at least one partition. The returned channel receives the time this
// first holds.
func (t *tracker) arm(need int) <-chan time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p := range t.mu.ok {
		t.setOKLocked(int32(p), false)
		t.mu.gap[p] = 0
	}
	t.mu.armed, t.mu.need = true, need
	t.mu.done = make(chan time.Time, 1)
	return t.mu.done
}

func (t *tracker) checkLocked(at time.Time) {
	if !t.mu.armed || t.mu.nOK < len(t.mu.ok) {
		return
	}
	if t.mu.need >= 0 && t.mu.owned[t.mu.need] == 0 {
		return
	}
	t.mu.armed = false
	t.mu.done <- at
}

// stable reports whether every partition is owned by a live member and
// has delivered a record to it, every live member owns some, and
// ownership has not changed for quiet.
func (t *tracker) stable(quiet time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, o := range t.mu.owner {
		if o < 0 || !t.mu.got[p] {
			return false
		}
	}
	for i, a := range t.mu.alive {
		if a && t.mu.owned[i] == 0 {
			return false
		}
	}
	return time.Since(t.mu.changed) >= quiet
}

// rates returns records/s per bucket for the buckets that cover [from, to).
func (t *tracker) rates(from, to time.Time) []float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	lo := int(from.Sub(t.start) / bucketDur)
	hi := int((to.Sub(t.start) + bucketDur - 1) / bucketDur)
	var out []float64
	for b := max(lo, 0); b < hi; b++ {
		var n int64
		if b < len(t.mu.buckets) {
			n = t.mu.buckets[b]
		}
		out = append(out, float64(n)/bucketDur.Seconds())
	}
	return out
}

// gaps returns each partition's longest time without a delivery to a live
// member, among the gaps that ended between the last arm and the moment
// the group consumed again.
func (t *tracker) gaps() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.mu.gap)
}

// strayRecords is how many records members delivered from partitions the
// callbacks said they did not own.
func (t *tracker) strayRecords() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.strays
}
