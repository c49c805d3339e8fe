package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producer sends records at a fixed rate, one partition after the other,
// so that every partition gets a record every partitions/rate seconds.
type producer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	start  time.Time
	acked  atomic.Int64
	failed atomic.Int64
}

// produceTick is how often the producer catches up with its schedule.
const produceTick = 5 * time.Millisecond

// startProducer starts producing 100-byte records to topic at rate/s,
// with kgo's default producer settings (acks=all, idempotent, no linger).
func startProducer(s *side, topic string, partitions int32, rate int) (*producer, error) {
	cl, err := kgo.NewClient(append(s.clientOpts(),
		kgo.ClientID("groupbench-producer"),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr := &producer{cl: cl, cancel: cancel, done: make(chan struct{}), start: time.Now()}
	go pr.run(ctx, partitions, rate)
	return pr, nil
}

func (pr *producer) run(ctx context.Context, partitions int32, rate int) {
	defer close(pr.done)
	value := make([]byte, 100)
	t := time.NewTicker(produceTick)
	defer t.Stop()
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := int64(now.Sub(pr.start).Seconds() * float64(rate))
			for ; sent < due && ctx.Err() == nil; sent++ {
				r := &kgo.Record{Partition: int32(sent % int64(partitions)), Value: value}
				pr.cl.Produce(context.Background(), r, pr.ack)
			}
		}
	}
}

func (pr *producer) ack(_ *kgo.Record, err error) {
	if err != nil {
		pr.failed.Add(1)
		return
	}
	pr.acked.Add(1)
}

// stop stops producing and returns the acknowledged rate.
func (pr *producer) stop() (perSec float64, failed int64) {
	pr.cancel()
	<-pr.done
	elapsed := time.Since(pr.start)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pr.cl.Flush(ctx)
	pr.cl.Close()
	return float64(pr.acked.Load()) / elapsed.Seconds(), pr.failed.Load()
}
