package cluster

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	rlog "github.com/runnel-io/runnel/log"
)

// TestProducerStateCheck drives the sequence-number state machine with a
// transcript of batches: each line is a batch and what check must decide.
func TestProducerStateCheck(t *testing.T) {
	type step struct {
		pid      int64
		epoch    int16
		seq      int32
		n        int32 // records
		dup      bool
		dupOff   int64
		err      *kerr.Error
		appendAt int64 // offset given to record when accepted
	}
	steps := []step{
		{pid: 1, epoch: 0, seq: 0, n: 3, appendAt: 0},
		{pid: 1, epoch: 0, seq: 3, n: 2, appendAt: 3},
		{pid: 1, epoch: 0, seq: 0, n: 3, dup: true, dupOff: 0},               // retry of the first batch
		{pid: 1, epoch: 0, seq: 3, n: 2, dup: true, dupOff: 3},               // retry of the second
		{pid: 1, epoch: 0, seq: 6, n: 1, err: kerr.OutOfOrderSequenceNumber}, // gap
		{pid: 1, epoch: 0, seq: 4, n: 1, err: kerr.OutOfOrderSequenceNumber}, // overlap
		{pid: 1, epoch: 1, seq: 5, n: 1, err: kerr.OutOfOrderSequenceNumber}, // new epoch must start at 0
		{pid: 1, epoch: 1, seq: 0, n: 1, appendAt: 5},
		{pid: 1, epoch: 0, seq: 5, n: 1, err: kerr.InvalidProducerEpoch}, // fenced
		{pid: 2, epoch: 3, seq: 42, n: 2, appendAt: 6},                   // unknown producer: any sequence
		{pid: 2, epoch: 3, seq: 44, n: 1, appendAt: 8},
		{pid: -1, epoch: -1, seq: -1, n: 4, appendAt: 9}, // not idempotent: no checks
	}
	s := newProducerState()
	for i, st := range steps {
		h := rlog.BatchHeader{ProducerID: st.pid, ProducerEpoch: st.epoch, BaseSequence: st.seq, LastOffsetDelta: st.n - 1, RecordCount: st.n}
		dup, off, err := s.check(&h)
		if dup != st.dup || err != st.err || (dup && off != st.dupOff) {
			t.Fatalf("step %d %+v: got dup=%v off=%d err=%v", i, st, dup, off, err)
		}
		if !dup && err == nil {
			s.record(&h, st.appendAt)
		}
	}
	// The window keeps the last five batches only.
	for i := int32(0); i < 7; i++ {
		h := rlog.BatchHeader{ProducerID: 3, BaseSequence: i, RecordCount: 1}
		if _, _, err := s.check(&h); err != nil {
			t.Fatal(err)
		}
		s.record(&h, int64(100+i))
	}
	if got := len(s.producers[3].Batches); got != producerWindow {
		t.Fatalf("window holds %d batches, want %d", got, producerWindow)
	}
}
