package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaDriver drives a Kafka-protocol broker (runnel, kfake) with
// franz-go. Every client, for every broker, is built from kgoOpts.
type kafkaDriver struct{}

// kgoOpts are the client settings shared by every Kafka-protocol figure
// and broker: franz-go's defaults (acks=all, idempotent producer, up to 5
// produce requests in flight per broker, 1 MB batches, fetch max wait
// 5 s, min bytes 1, max bytes 50 MiB, 1 MiB per partition) with two
// changes: no compression, because JetStream has none and random values
// do not compress (the default is snappy), and no linger, as a
// latency-sensitive producer runs (the default is 10 ms, which would be
// the whole end-to-end latency at 5,000 records/s). Under load, batches
// still fill while earlier requests are in flight.
func kgoOpts(addrs []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(0),
	}
}

// kgoSettings describes kgoOpts for the report.
const kgoSettings = "franz-go (kgo) defaults — acks=all, idempotent, ≤ 5 produce requests in flight per broker, 1 MB batches, 64 KiB uniform-bytes sticky partitioner, fetch max wait 5 s / min 1 B / max 50 MiB / 1 MiB per partition — except no compression (default snappy) and linger 0 (default 10 ms)"

func (kafkaDriver) createTopic(ctx context.Context, addrs []string, topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgoOpts(addrs)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	// Wait until every partition has a leader in the metadata.
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if t, ok := md.Topics[topic]; ok && t.Err == nil && len(t.Partitions) == int(partitions) {
				ready := true
				for _, p := range t.Partitions {
					ready = ready && p.Err == nil && p.Leader >= 0
				}
				if ready {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s: no leaders: %w", topic, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (kafkaDriver) deleteTopic(ctx context.Context, addrs []string, topic string) error {
	cl, err := kgo.NewClient(kgoOpts(addrs)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	return err
}

// produce sends n records of size-byte values from producers clients,
// each with its own connections. Each client first sends one record
// synchronously (metadata, connections, producer id), untimed; the clock
// runs over the other records. It returns how many records were timed.
func (kafkaDriver) produce(ctx context.Context, addrs []string, topic string, n int64, size, producers int) (int64, time.Duration, error) {
	value := randomValue(size)
	clients := make([]*kgo.Client, producers)
	for i := range clients {
		cl, err := kgo.NewClient(kgoOpts(addrs)...)
		if err != nil {
			return 0, 0, err
		}
		defer cl.Close()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: value}).FirstErr(); err != nil {
			return 0, 0, fmt.Errorf("first record: %w", err)
		}
		clients[i] = cl
	}
	shares := split(n-int64(producers), producers)
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
	)
	fail := func(err error) { firstErr.CompareAndSwap(nil, &err) }
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			fail(err)
		}
	}
	start := time.Now()
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range shares[i] {
				cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, promise)
			}
			if err := cl.Flush(ctx); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if p := firstErr.Load(); p != nil {
		return 0, 0, *p
	}
	return n - int64(producers), elapsed, nil
}

// consume reads topic from its start with one client until it has n
// records, and returns the time from the client's creation and the
// value bytes read.
func (kafkaDriver) consume(ctx context.Context, addrs []string, topic string, n int64) (time.Duration, int64, error) {
	start := time.Now()
	cl, err := kgo.NewClient(append(kgoOpts(addrs),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	var got, bytes int64
	for got < n {
		fs := cl.PollFetches(ctx)
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("%s[%d]: %w", t, p, err))
		})
		if ferr != nil {
			return 0, 0, fmt.Errorf("after %d of %d records: %w", got, n, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value))
		})
	}
	elapsed := time.Since(start)
	if got != n {
		return 0, 0, fmt.Errorf("consumed %d records, expected %d", got, n)
	}
	return elapsed, bytes, nil
}

// latency runs the open-loop end-to-end test: one producer client sends
// records on a fixed schedule, one consumer client reads them; each
// record carries its scheduled time.
func (kafkaDriver) latency(ctx context.Context, addrs []string, topic string, s schedule) (latencyResult, error) {
	prod, err := kgo.NewClient(kgoOpts(addrs)...)
	if err != nil {
		return latencyResult{}, err
	}
	defer prod.Close()
	cons, err := kgo.NewClient(append(kgoOpts(addrs),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return latencyResult{}, err
	}
	defer cons.Close()
	// Warm both clients: a first record, produced and consumed, untimed.
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: s.value(-1, time.Now())}).FirstErr(); err != nil {
		return latencyResult{}, fmt.Errorf("first record: %w", err)
	}
	rec := newLatencyRecorder(s)
	consumed := make(chan error, 1)
	go func() {
		for !rec.done() {
			fs := cons.PollFetches(ctx)
			now := time.Now()
			var ferr error
			fs.EachError(func(t string, p int32, err error) { ferr = errors.Join(ferr, err) })
			if ferr != nil {
				consumed <- ferr
				return
			}
			fs.EachRecord(func(r *kgo.Record) { rec.observe(r.Value, now) })
		}
		consumed <- nil
	}()
	var firstErr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
		}
	}
	lateness := s.run(func(i int, due time.Time) {
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: s.value(i, due)}, promise)
	})
	if err := prod.Flush(ctx); err != nil {
		return latencyResult{}, err
	}
	if p := firstErr.Load(); p != nil {
		return latencyResult{}, *p
	}
	if err := <-consumed; err != nil {
		return latencyResult{}, fmt.Errorf("consumer after %d records: %w", rec.seen(), err)
	}
	return rec.result(lateness), nil
}

// split divides n into k shares that differ by at most one.
func split(n int64, k int) []int64 {
	s := make([]int64, k)
	for i := range s {
		s[i] = n / int64(k)
		if int64(i) < n%int64(k) {
			s[i]++
		}
	}
	return s
}
