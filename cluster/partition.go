package cluster

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	rlog "github.com/runnel-io/runnel/log"
)

// partition is one topic partition led by this broker: its log, its
// leader epoch, its idempotent producers, and a broadcast channel that
// wakes long-polling fetches when records arrive.
//
// Design for replication: the log's high watermark is what consumers may
// read; replicas and isr name the replica set. With one node the leader is
// the only in-sync replica, so the high watermark follows the log end.
type partition struct {
	topic       string
	index       int32
	log         *rlog.Log
	leaderEpoch int32
	replicas    []int32
	isr         []int32

	mu struct {
		sync.Mutex // serialises produce: the sequence check and the append
		settings   topicSettings
		producers  *producerState
		deleted    bool
	}
	notify atomic.Pointer[chan struct{}]
}

func newPartition(topic string, index int32, l *rlog.Log, s topicSettings, node int32) (*partition, error) {
	p := &partition{topic: topic, index: index, log: l, replicas: []int32{node}, isr: []int32{node}}
	p.mu.settings = s
	ch := make(chan struct{})
	p.notify.Store(&ch)
	l.SetHighWatermark(l.EndOffset())
	// A leader starts its epoch at the log end, as Kafka's does, so that
	// OffsetForLeaderEpoch places the epoch even before the first append.
	if err := l.AssignEpoch(p.leaderEpoch); err != nil {
		return nil, fmt.Errorf("cluster: %s-%d: leader epoch: %w", topic, index, err)
	}
	ps, err := loadProducerState(l)
	if err != nil {
		return nil, fmt.Errorf("cluster: %s-%d: producer state: %w", topic, index, err)
	}
	p.mu.producers = ps
	return p, nil
}

// wait returns a channel closed at the next append.
func (p *partition) wait() <-chan struct{} { return *p.notify.Load() }

func (p *partition) signal() {
	ch := make(chan struct{})
	old := p.notify.Swap(&ch)
	close(*old)
}

func (p *partition) setSettings(s topicSettings) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.settings = s
	return p.log.SetConfig(s.log)
}

func (p *partition) markDeleted() {
	p.mu.Lock()
	p.mu.deleted = true
	p.mu.Unlock()
}

// produceResult is what a Produce response reports for one partition.
type produceResult struct {
	baseOffset    int64
	logAppendTime int64 // -1 unless the topic stamps LogAppendTime
	logStart      int64
	err           *kerr.Error
	msg           string
}

// produce validates and appends one RecordBatch, enforcing idempotent
// producers' sequence numbers: a retried batch is answered with its first
// offset and not written again.
func (p *partition) produce(batch []byte, now time.Time) produceResult {
	res := produceResult{baseOffset: -1, logAppendTime: -1}
	// The CRC only proves the bytes are the client's: Validate decodes the
	// records too, as Kafka does, so that no consumer and no compaction of
	// this log ever meets a batch it cannot read. The log trusts this
	// validation (AppendValidated): the batch is in this connection's
	// request frame, which nothing else touches until the response.
	v, err := rlog.Validate(batch)
	if err != nil {
		res.err, res.msg = batchErrorCode(err), err.Error()
		return res
	}
	h := v.Header()
	p.mu.Lock()
	defer p.mu.Unlock()
	res.logStart = p.log.StartOffset()
	if p.mu.deleted {
		res.err = kerr.UnknownTopicOrPartition
		return res
	}
	if h.Transactional() || h.Control() {
		res.err, res.msg = kerr.InvalidRecord, "transactions are not supported"
		return res
	}
	if len(batch) > p.mu.settings.log.MaxBatchBytes {
		res.err, res.msg = kerr.MessageTooLarge, fmt.Sprintf("batch of %d bytes over max.message.bytes %d", len(batch), p.mu.settings.log.MaxBatchBytes)
		return res
	}
	if dup, off, kerrv := p.mu.producers.check(&h); kerrv != nil || dup {
		res.err, res.baseOffset = kerrv, off
		return res
	}
	if p.mu.settings.logAppendTime {
		res.logAppendTime = now.UnixMilli()
		v.SetLogAppendTime(res.logAppendTime)
	}
	ar, err := p.log.AppendValidated(&v, p.leaderEpoch)
	if err != nil {
		res.err, res.msg = batchErrorCode(err), err.Error()
		return res
	}
	p.mu.producers.record(&h, ar.BaseOffset)
	p.log.SetHighWatermark(p.log.EndOffset())
	p.signal()
	res.baseOffset = ar.BaseOffset
	return res
}

// appendInternal appends a batch the broker built itself (the records of
// __consumer_offsets), then advances the high watermark and wakes fetches.
// Internal batches have no producer id, so no sequence is checked.
func (p *partition) appendInternal(batch []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.deleted {
		return rlog.ErrClosed
	}
	if _, err := p.log.Append(batch, p.leaderEpoch); err != nil {
		return err
	}
	p.log.SetHighWatermark(p.log.EndOffset())
	p.signal()
	return nil
}

// batchErrorCode maps the log's errors to Kafka's codes.
func batchErrorCode(err error) *kerr.Error {
	switch {
	case errors.Is(err, rlog.ErrBatchTooLarge):
		return kerr.MessageTooLarge
	case errors.Is(err, rlog.ErrCorruptBatch), errors.Is(err, rlog.ErrBatchTooShort):
		return kerr.CorruptMessage
	case errors.Is(err, rlog.ErrBadMagic), errors.Is(err, rlog.ErrEmptyBatch), errors.Is(err, rlog.ErrInvalidRecords):
		return kerr.InvalidRecord
	case errors.Is(err, rlog.ErrClosed):
		return kerr.NotLeaderForPartition
	}
	return kerr.KafkaStorageError
}

// close snapshots the producer state and closes the log cleanly.
func (p *partition) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var snapErr error
	if !p.mu.deleted {
		snapErr = p.mu.producers.snapshot(p.log)
	}
	if err := p.log.Close(); err != nil && !errors.Is(err, rlog.ErrClosed) {
		return err
	}
	return snapErr
}
