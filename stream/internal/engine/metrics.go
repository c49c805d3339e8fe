package engine

import (
	"maps"
	"sync"
)

// Metric names. Dropped records are counted per reason: MetricDropped +
// "late", "null-key", "null-value", "negative-timestamp", ...
const (
	MetricDropped               = "dropped-records-"
	MetricDeserializationErrors = "deserialization-errors"
	MetricProcessed             = "processed-records"
)

// Metrics are counters shared by the tasks of an application instance.
// Safe for concurrent use.
type Metrics struct {
	mu     sync.Mutex
	counts map[string]int64
}

// Add adds n to the counter name.
func (m *Metrics) Add(name string, n int64) {
	m.mu.Lock()
	if m.counts == nil {
		m.counts = map[string]int64{}
	}
	m.counts[name] += n
	m.mu.Unlock()
}

// Snapshot returns a copy of the counters.
func (m *Metrics) Snapshot() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.counts)
}
