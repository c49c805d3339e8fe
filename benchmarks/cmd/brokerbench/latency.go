package main

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// epoch is the origin of the scheduled times written into latency
// records; producer and consumer run in this process and share it.
var epoch = time.Now()

// latencyValueBytes is the size of every latency record's value: the
// scheduled time, the record's index, and padding.
const latencyValueBytes = 100

// schedule is an open-loop load: n records at a fixed rate, the first
// warm of them unmeasured. Record i is due at start + i/rate whether or
// not the previous ones have been sent or acknowledged, and its latency
// is measured from that due time, so a stall delays and counts against
// every record scheduled during it (no coordinated omission).
type schedule struct {
	rate int
	n    int
	warm int
}

func newSchedule(rate int, warm, measured time.Duration) schedule {
	w := int(float64(rate) * warm.Seconds())
	return schedule{rate: rate, n: w + int(float64(rate)*measured.Seconds()), warm: w}
}

// value is record i's value, due at due; i = -1 marks a warm-up record
// that is not measured.
func (s schedule) value(i int, due time.Time) []byte {
	v := make([]byte, latencyValueBytes)
	binary.LittleEndian.PutUint64(v[0:], uint64(due.Sub(epoch)))
	binary.LittleEndian.PutUint64(v[8:], uint64(i+1))
	return v
}

// run calls send for every record at its due time and returns each
// record's lateness (send time − due time). It runs on a locked OS thread
// that sleeps with nanosleep(2) and a 1 µs timer slack: Go's timers sleep
// in the network poller with millisecond resolution, which would delay
// sends by up to a millisecond; this wakes within tens of microseconds.
// Records that fall due while it sleeps or sends are sent at once.
func (s schedule) run(send func(i int, due time.Time)) []time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0) // back to the default
	interval := float64(time.Second) / float64(s.rate)
	start := time.Now().Add(time.Millisecond)
	dueOf := func(i int) time.Time { return start.Add(time.Duration(float64(i) * interval)) }
	lateness := make([]time.Duration, s.n)
	for i := 0; i < s.n; {
		if wait := time.Until(dueOf(i)); wait > 0 {
			ts := unix.NsecToTimespec(int64(wait))
			for unix.Nanosleep(&ts, &ts) == unix.EINTR {
			}
			continue
		}
		now := time.Now()
		for ; i < s.n && !dueOf(i).After(now); i++ {
			due := dueOf(i)
			lateness[i] = time.Since(due)
			send(i, due)
		}
	}
	return lateness
}

// latencyRecorder collects what a consumer sees. One goroutine calls
// observe, done and seen (the consumer's); result is called after it
// finished.
type latencyRecorder struct {
	s    schedule
	lat  []time.Duration // by record index; -1 until seen
	got  int
	dups int
}

func newLatencyRecorder(s schedule) *latencyRecorder {
	r := &latencyRecorder{s: s, lat: make([]time.Duration, s.n)}
	for i := range r.lat {
		r.lat[i] = -1
	}
	return r
}

// observe records a value's latency, seen at now.
func (r *latencyRecorder) observe(v []byte, now time.Time) {
	if len(v) < 16 {
		return
	}
	i := int(binary.LittleEndian.Uint64(v[8:])) - 1
	if i < 0 || i >= len(r.lat) {
		return
	}
	if r.lat[i] >= 0 {
		r.dups++
		return
	}
	due := time.Duration(binary.LittleEndian.Uint64(v[0:]))
	r.lat[i] = now.Sub(epoch) - due
	r.got++
}

func (r *latencyRecorder) done() bool { return r.got == r.s.n }
func (r *latencyRecorder) seen() int  { return r.got }

// latencyResult is one latency run: the measured records' latencies and
// the generator's lateness, both sorted.
type latencyResult struct {
	lat, lateness []time.Duration
	dups          int
}

func (r *latencyRecorder) result(lateness []time.Duration) latencyResult {
	lat := slices.Clone(r.lat[r.s.warm:])
	slices.Sort(lat)
	late := slices.Clone(lateness[r.s.warm:])
	slices.Sort(late)
	return latencyResult{lat: lat, lateness: late, dups: r.dups}
}

// randomValue is a value of size random (incompressible) bytes.
func randomValue(size int) []byte {
	v := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range v {
		v[i] = byte(rng.Uint32())
	}
	return v
}
