package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jetStreamDriver drives NATS JetStream with nats.go's jetstream client,
// the way its users run it for throughput: one stream per topic (file
// storage, one replica, nats-server's default limits), producers
// publishing asynchronously with up to pending acks outstanding and then
// waiting for every ack, and consumers using an ordered consumer (an
// ephemeral, ack-none, in-order pull consumer) that pulls pullMsgs
// messages at a time.
type jetStreamDriver struct {
	pending  int
	pullMsgs int
}

func (d jetStreamDriver) settings() string {
	return fmt.Sprintf("nats.go %s jetstream client, one connection per producer or consumer (nats.Connect defaults); "+
		"stream per topic: subjects = its name, FileStorage, Replicas 1, Retention Limits, no limits, no Nats-Msg-Id (so no duplicate detection); "+
		"publish: PublishAsync with PublishAsyncMaxPending %d, then wait for PublishAsyncComplete; "+
		"consume: OrderedConsumer (DeliverAll, ack none) with Consume and PullMaxMessages %d",
		nats.Version, d.pending, d.pullMsgs)
}

func (d jetStreamDriver) connect(addrs []string, opts ...jetstream.JetStreamOpt) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(addrs[0])
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func (d jetStreamDriver) createTopic(ctx context.Context, addrs []string, topic string, _ int32) error {
	nc, js, err := d.connect(addrs)
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     topic,
		Subjects: []string{topic},
		Storage:  jetstream.FileStorage,
		Replicas: 1,
	})
	return err
}

func (d jetStreamDriver) deleteTopic(ctx context.Context, addrs []string, topic string) error {
	nc, js, err := d.connect(addrs)
	if err != nil {
		return err
	}
	defer nc.Close()
	return js.DeleteStream(ctx, topic)
}

// publisher is one producing connection: async publishes whose failures
// land in fail.
type publisher struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func (d jetStreamDriver) publisher(addrs []string, fail func(error)) (*publisher, error) {
	nc, js, err := d.connect(addrs,
		jetstream.WithPublishAsyncMaxPending(d.pending),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) { fail(err) }))
	if err != nil {
		return nil, err
	}
	return &publisher{nc: nc, js: js}, nil
}

// publish sends one message asynchronously, waiting while max pending
// acks are outstanding.
func (p *publisher) publish(ctx context.Context, subject string, data []byte) error {
	for {
		_, err := p.js.PublishAsync(subject, data)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// complete waits until every async publish is acknowledged.
func (p *publisher) complete(ctx context.Context) error {
	select {
	case <-p.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %d publish acks: %w", p.js.PublishAsyncPending(), ctx.Err())
	}
}

// produce mirrors kafkaDriver.produce: producers connections, one
// synchronous publish each first (untimed), then the rest async.
func (d jetStreamDriver) produce(ctx context.Context, addrs []string, topic string, n int64, size, producers int) (int64, time.Duration, error) {
	value := randomValue(size)
	var firstErr atomic.Pointer[error]
	fail := func(err error) { firstErr.CompareAndSwap(nil, &err) }
	pubs := make([]*publisher, producers)
	for i := range pubs {
		p, err := d.publisher(addrs, fail)
		if err != nil {
			return 0, 0, err
		}
		defer p.nc.Close()
		if _, err := p.js.Publish(ctx, topic, value); err != nil {
			return 0, 0, fmt.Errorf("first message: %w", err)
		}
		pubs[i] = p
	}
	shares := split(n-int64(producers), producers)
	var wg sync.WaitGroup
	start := time.Now()
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range shares[i] {
				if err := p.publish(ctx, topic, value); err != nil {
					fail(err)
					return
				}
			}
			if err := p.complete(ctx); err != nil {
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

// consume reads the stream from its start with an ordered consumer until
// it has n messages.
func (d jetStreamDriver) consume(ctx context.Context, addrs []string, topic string, n int64) (time.Duration, int64, error) {
	start := time.Now()
	nc, js, err := d.connect(addrs)
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	cons, err := js.OrderedConsumer(ctx, topic, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, 0, err
	}
	var got atomic.Int64
	var bytes int64 // the callback runs on one goroutine
	done := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if got.Load() == n {
			return
		}
		bytes += int64(len(m.Data()))
		if got.Add(1) == n {
			close(done)
		}
	}, jetstream.PullMaxMessages(d.pullMsgs))
	if err != nil {
		return 0, 0, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		cc.Stop()
		return 0, 0, fmt.Errorf("consumed %d of %d messages: %w", got.Load(), n, ctx.Err())
	}
	elapsed := time.Since(start)
	cc.Stop()
	return elapsed, bytes, nil
}

// latency mirrors kafkaDriver.latency: one publishing connection on the
// schedule, one ordered consumer.
func (d jetStreamDriver) latency(ctx context.Context, addrs []string, topic string, s schedule) (latencyResult, error) {
	var firstErr atomic.Pointer[error]
	fail := func(err error) { firstErr.CompareAndSwap(nil, &err) }
	pub, err := d.publisher(addrs, fail)
	if err != nil {
		return latencyResult{}, err
	}
	defer pub.nc.Close()
	nc, js, err := d.connect(addrs)
	if err != nil {
		return latencyResult{}, err
	}
	defer nc.Close()
	cons, err := js.OrderedConsumer(ctx, topic, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return latencyResult{}, err
	}
	rec := newLatencyRecorder(s)
	done := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		if rec.done() {
			return
		}
		rec.observe(m.Data(), now)
		if rec.done() {
			close(done)
		}
	}, jetstream.PullMaxMessages(d.pullMsgs))
	if err != nil {
		return latencyResult{}, err
	}
	defer cc.Stop()
	if _, err := pub.js.Publish(ctx, topic, s.value(-1, time.Now())); err != nil {
		return latencyResult{}, fmt.Errorf("first message: %w", err)
	}
	lateness := s.run(func(i int, due time.Time) {
		if err := pub.publish(ctx, topic, s.value(i, due)); err != nil {
			fail(err)
		}
	})
	if err := pub.complete(ctx); err != nil {
		return latencyResult{}, err
	}
	if p := firstErr.Load(); p != nil {
		return latencyResult{}, *p
	}
	select {
	case <-done:
	case <-ctx.Done():
		return latencyResult{}, fmt.Errorf("consumer saw %d of %d messages: %w", rec.seen(), s.n, ctx.Err())
	}
	return rec.result(lateness), nil
}
