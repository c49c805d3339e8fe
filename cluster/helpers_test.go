package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// testBroker is a broker serving on a loopback port for one test.
type testBroker struct {
	*Broker
	logs *syncBuffer
	done chan error
}

// startBroker starts a real broker in-process on 127.0.0.1:0 with its data
// in dir (a fresh temp dir when empty). mod may change the config.
func startBroker(t testing.TB, dir string, mod func(*Config)) *testBroker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	// Each partition costs a few fsyncs to open and close: tests that need
	// Kafka's 50 partitions of __consumer_offsets ask for them.
	cfg.OffsetsTopicNumPartitions = 3
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	tb := &testBroker{Broker: b, logs: logs, done: make(chan error, 1)}
	go func() { tb.done <- b.Serve() }()
	t.Cleanup(func() {
		tb.stop(t)
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	return tb
}

// stop closes the broker cleanly (idempotent).
func (tb *testBroker) stop(t testing.TB) {
	if err := tb.Close(); err != nil {
		t.Errorf("close broker: %v", err)
	}
}

func (tb *testBroker) addr() string { return tb.Addr().String() }

// newClient returns a franz-go client of the broker, closed with the test.
func newClient(t testing.TB, tb *testBroker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
