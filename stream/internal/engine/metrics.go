package engine

import (
	"sync"
	"sync/atomic"
)

// Metric names. Dropped records are counted per reason: MetricDropped +
// "late", "null-key", "null-value", "negative-timestamp", ...
const (
	MetricDropped               = "dropped-records-"
	MetricDeserializationErrors = "deserialization-errors"
	MetricProcessed             = "processed-records"
)

// Metrics are counters shared by the tasks of an application instance.
// Safe for concurrent use; the zero value is ready.
type Metrics struct {
	mu     sync.Mutex
	counts map[string]*atomic.Int64
}

// Add adds n to the counter name.
func (m *Metrics) Add(name string, n int64) { m.Counter(name).Add(n) }

// Counter returns the counter name itself, for a caller that counts once
// per record: adding to it takes no lock. A counter returned but never
// added to is in Snapshot with 0.
func (m *Metrics) Counter(name string) *atomic.Int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counts[name]
	if c == nil {
		if m.counts == nil {
			m.counts = map[string]*atomic.Int64{}
		}
		c = new(atomic.Int64)
		m.counts[name] = c
	}
	return c
}

// Snapshot returns a copy of the counters (nil if none was ever added).
func (m *Metrics) Snapshot() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		return nil
	}
	out := make(map[string]int64, len(m.counts))
	for name, c := range m.counts {
		out[name] = c.Load()
	}
	return out
}
