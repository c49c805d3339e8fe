package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	rlog "github.com/runnel-io/runnel/log"
	"github.com/runnel-io/runnel/log/vfs"
)

// producerWindow is how many recent batches per producer are remembered
// for duplicate detection: Kafka clients keep at most 5 in flight.
const producerWindow = 5

// seqBatch is one remembered batch of an idempotent producer.
type seqBatch struct {
	FirstSeq   int32 `json:"first_seq"`
	LastSeq    int32 `json:"last_seq"`
	BaseOffset int64 `json:"base_offset"`
}

type producerEntry struct {
	Epoch   int16      `json:"epoch"`
	Batches []seqBatch `json:"batches"` // oldest first, at most producerWindow
}

// producerState is one partition's idempotent producers: for each producer
// id, its epoch and its last batches' sequence numbers. It is a plain
// struct; the partition's lock guards it.
type producerState struct {
	producers map[int64]*producerEntry
}

func newProducerState() *producerState {
	return &producerState{producers: map[int64]*producerEntry{}}
}

func nextSeq(seq int32) int32 {
	if seq == math.MaxInt32 {
		return 0
	}
	return seq + 1
}

// check decides what to do with a batch before it is appended: dup (with
// the original base offset) for a retry of a remembered batch, an error
// for a fenced epoch or a sequence gap, or neither to append it.
func (s *producerState) check(h *rlog.BatchHeader) (dup bool, off int64, err *kerr.Error) {
	if h.ProducerID < 0 {
		return false, -1, nil
	}
	lastSeq := h.BaseSequence + h.LastOffsetDelta // wraps as Kafka's does
	if h.BaseSequence < 0 {
		return false, -1, kerr.InvalidRecord
	}
	e, ok := s.producers[h.ProducerID]
	switch {
	case !ok:
		// A producer this partition has no state for: its batches may
		// have been deleted by retention, so any sequence is accepted and
		// starts the state (as Kafka does since KIP-360).
		return false, -1, nil
	case h.ProducerEpoch > e.Epoch:
		// A new epoch of a known producer: sequences start at 0.
		if h.BaseSequence != 0 {
			return false, -1, kerr.OutOfOrderSequenceNumber
		}
		return false, -1, nil
	case h.ProducerEpoch < e.Epoch:
		return false, -1, kerr.InvalidProducerEpoch
	}
	for _, b := range e.Batches {
		if b.FirstSeq == h.BaseSequence && b.LastSeq == lastSeq {
			return true, b.BaseOffset, nil
		}
	}
	if n := len(e.Batches); n > 0 && h.BaseSequence != nextSeq(e.Batches[n-1].LastSeq) {
		return false, -1, kerr.OutOfOrderSequenceNumber
	}
	return false, -1, nil
}

// record remembers an appended batch.
func (s *producerState) record(h *rlog.BatchHeader, baseOffset int64) {
	if h.ProducerID < 0 {
		return
	}
	e, ok := s.producers[h.ProducerID]
	if !ok || h.ProducerEpoch > e.Epoch {
		e = &producerEntry{Epoch: h.ProducerEpoch}
		s.producers[h.ProducerID] = e
	}
	e.Batches = append(e.Batches, seqBatch{FirstSeq: h.BaseSequence, LastSeq: h.BaseSequence + h.LastOffsetDelta, BaseOffset: baseOffset})
	if len(e.Batches) > producerWindow {
		e.Batches = append(e.Batches[:0], e.Batches[len(e.Batches)-producerWindow:]...)
	}
}

// producerSnapshot is the producer state as of an offset, as persisted.
type producerSnapshot struct {
	Offset    int64                    `json:"offset"`
	Producers map[string]producerEntry `json:"producers"`
}

const producerSnapshotFile = "producer-state.json"

// snapshot persists the state as of the log's end offset.
func (s *producerState) snapshot(l *rlog.Log) error {
	snap := producerSnapshot{Offset: l.EndOffset(), Producers: map[string]producerEntry{}}
	for id, e := range s.producers {
		snap.Producers[strconv.FormatInt(id, 10)] = *e
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(vfs.Default, filepath.Join(l.Dir(), producerSnapshotFile), data)
}

// loadProducerState rebuilds a partition's producer state: the snapshot
// written at the last clean shutdown, then every batch after it replayed
// from the log (all of the log after a crash or without a snapshot).
func loadProducerState(l *rlog.Log) (*producerState, error) {
	s := newProducerState()
	from := l.StartOffset()
	data, err := os.ReadFile(filepath.Join(l.Dir(), producerSnapshotFile))
	switch {
	case err == nil:
		var snap producerSnapshot
		if jerr := json.Unmarshal(data, &snap); jerr != nil || snap.Offset > l.EndOffset() {
			break // unusable: replay everything
		}
		for k, e := range snap.Producers {
			id, perr := strconv.ParseInt(k, 10, 64)
			if perr != nil {
				continue
			}
			e := e
			s.producers[id] = &e
		}
		from = max(from, snap.Offset)
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	return s, s.replay(l, from)
}

// replay applies the batch headers of the log from off to its end.
func (s *producerState) replay(l *rlog.Log, off int64) error {
	end := l.EndOffset()
	for off < end {
		sl, err := l.Read(off, rlog.ReadLimit{MaxBytes: 1 << 20, MaxOffset: end, MinOne: true})
		if err != nil {
			return err
		}
		buf, err := sl.AppendTo(nil)
		sl.Close()
		if err != nil {
			return err
		}
		if len(buf) == 0 {
			return nil
		}
		it := rlog.NewBatchIter(buf)
		for h, _, ok := it.Next(); ok; h, _, ok = it.Next() {
			s.record(&h, h.BaseOffset)
			off = h.NextOffset()
		}
	}
	return nil
}

// producerIDs hands out producer ids, unique across restarts: it persists
// the end of a block of ids before using any of it.
type producerIDs struct {
	path string
	mu   struct {
		sync.Mutex
		next, limit int64
	}
}

const producerIDBlock = 1000

func openProducerIDs(dir string) (*producerIDs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p := &producerIDs{path: filepath.Join(dir, "producer-ids")}
	data, err := os.ReadFile(p.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		n, perr := strconv.ParseInt(string(data), 10, 64)
		if perr != nil || n < 0 {
			return nil, fmt.Errorf("cluster: corrupt %s: %q", p.path, data)
		}
		p.mu.next, p.mu.limit = n, n
	}
	return p, nil
}

// next returns a fresh producer id.
func (p *producerIDs) next() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.next >= p.mu.limit {
		limit := p.mu.next + producerIDBlock
		if err := vfs.WriteFileAtomic(vfs.Default, p.path, strconv.AppendInt(nil, limit, 10)); err != nil {
			return -1, fmt.Errorf("cluster: persist producer ids: %w", err)
		}
		p.mu.limit = limit
	}
	id := p.mu.next
	p.mu.next++
	return id, nil
}

// issued reports whether next has handed out id, in this run or an earlier
// one (ids below the persisted block end count as handed out).
func (p *producerIDs) issued(id int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return id >= 0 && id < p.mu.next
}
