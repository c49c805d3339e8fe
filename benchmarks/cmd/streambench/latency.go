package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// latency runs the stateless pipeline on each side while a producer sends
// p.rate records/s stamped with their send time, and a consumer of the
// output measures when each becomes visible.
func latency(ctx context.Context, p params, addr string, r *results) error {
	adm, err := newAdmin(addr)
	if err != nil {
		return err
	}
	defer adm.Close()
	for _, side := range []string{"streams", "loop"} {
		in, out := "sb-lat-in-"+side, "sb-lat-out-"+side
		if _, err := adm.CreateTopic(ctx, p.partitions, 1, nil, in); err != nil {
			return err
		}
		if _, err := adm.CreateTopic(ctx, p.partitions, 1, nil, out); err != nil {
			return err
		}
		lats, err := measureLatency(ctx, p, addr, adm, side, in, out)
		if err != nil {
			return fmt.Errorf("%s: %w", side, err)
		}
		r.latency = append(r.latency, latencyResult{side: side, lats: lats})
	}
	return nil
}

func measureLatency(ctx context.Context, p params, addr string, adm *kadm.Client, side, in, out string) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := workloads[0]
	errc := make(chan error, 1)
	var assigned atomic.Int64
	if side == "streams" {
		go func() { errc <- runStreamsOn(ctx, addr, w, in, out, "sb-lat-"+side, &assigned) }()
	} else {
		go func() { errc <- loopOn(ctx, addr, w, in, out, "sb-lat-"+side, &assigned) }()
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	// The input producer sends each record at once (no linger): the figure
	// is the pipeline's latency, not the load generator's batching.
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(0))
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	var measuring atomic.Bool
	var lats []time.Duration
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			now := time.Now()
			fs.EachRecord(func(rec *kgo.Record) {
				digits, _, _ := strings.Cut(string(rec.Value[1:]), "-")
				sent, err := strconv.ParseInt(digits, 10, 64)
				if err == nil && measuring.Load() {
					lats = append(lats, now.Sub(time.Unix(0, sent)))
				}
			})
		}
	}()
	// Give the pipeline its tasks before the clock starts.
	time.Sleep(2 * time.Second)
	pad := strings.Repeat("-", p.valueBytes)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	perTick := p.rate / 1000
	for ctx.Err() == nil {
		<-tick.C
		el := time.Since(start)
		if el > p.warmup && !measuring.Load() {
			measuring.Store(true)
		}
		if el > p.warmup+p.latency {
			break
		}
		for i := 0; i < perTick; i++ {
			v := []byte("b" + strconv.FormatInt(time.Now().UnixNano(), 10) + pad)[:p.valueBytes]
			prod.Produce(ctx, &kgo.Record{Topic: in, Key: []byte(strconv.Itoa(i)), Value: v}, nil)
		}
	}
	prod.Flush(ctx)
	time.Sleep(time.Second)
	measuring.Store(false)
	cancel()
	<-consDone
	if err := <-errc; err != nil && ctx.Err() == nil {
		return nil, err
	}
	slices.Sort(lats)
	return lats, nil
}

func newAdmin(addr string) (*kadm.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}
