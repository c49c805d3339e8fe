package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/runnel-io/runnel/log"
)

// The workload every figure uses: records with 100-byte values and no key,
// packed into uncompressed batches as close to 16 KiB as they get without
// going over.
const (
	recordValueBytes = 100
	batchBytesMax    = 16 << 10
	poolBatches      = 64 // distinct batches cycled through: 1 MiB of data
)

// batchPool holds pre-built batches of one size. Append rewrites a batch's
// base offset and leader epoch in place (outside its CRC), so the same
// bytes can be appended again and again.
type batchPool struct {
	batches [][]byte
	records int // records per batch
	size    int // bytes per batch
}

func newBatchPool(seed uint64) (*batchPool, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	n, err := recordsPerBatch()
	if err != nil {
		return nil, err
	}
	p := &batchPool{records: n}
	ts := time.Now().UnixMilli()
	for range poolBatches {
		b, err := buildBatch(rng, n, ts)
		if err != nil {
			return nil, err
		}
		if p.size != 0 && len(b) != p.size {
			return nil, fmt.Errorf("batch sizes differ: %d and %d", p.size, len(b))
		}
		p.size = len(b)
		p.batches = append(p.batches, b)
	}
	return p, nil
}

// recordsPerBatch is the largest record count whose batch fits in
// batchBytesMax.
func recordsPerBatch() (int, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := batchBytesMax / recordValueBytes; n > 0; n-- {
		b, err := buildBatch(rng, n, 0)
		if err != nil {
			return 0, err
		}
		if len(b) <= batchBytesMax {
			return n, nil
		}
	}
	return 0, fmt.Errorf("no record fits in %d bytes", batchBytesMax)
}

func buildBatch(rng *rand.Rand, n int, ts int64) ([]byte, error) {
	recs := make([]log.Record, n)
	for i := range recs {
		v := make([]byte, recordValueBytes)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		recs[i] = log.Record{OffsetDelta: int32(i), Value: v}
	}
	h := log.BatchHeader{BaseTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LeaderEpoch: -1}
	return log.AppendBatch(nil, h, recs, log.CompressionNone)
}

// appendBytes appends batches from the pool until at least n bytes are
// written and returns the number of batches.
func appendBytes(l *log.Log, p *batchPool, n int64) (int, error) {
	var written int64
	i := 0
	for ; written < n; i++ {
		if _, err := l.Append(p.batches[i%len(p.batches)], -1); err != nil {
			return i, fmt.Errorf("append batch %d: %w", i, err)
		}
		written += int64(p.size)
	}
	return i, nil
}

// batchesFor is the number of batches appendBytes writes for n bytes.
func (p *batchPool) batchesFor(n int64) int64 {
	return (n + int64(p.size) - 1) / int64(p.size)
}
