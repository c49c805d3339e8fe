// Package clustertest starts runnel brokers in-process for the tests of
// the packages above cluster (stream, examples), as net/http/httptest
// does for HTTP servers. Package cluster's own tests cannot import it (an
// import cycle) and keep their own helpers.
package clustertest

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/runnel-io/runnel/cluster"
)

// Broker is a broker started by Start, with the log it writes.
type Broker struct {
	*cluster.Broker
	Logs *Logs
}

// Start starts a broker on 127.0.0.1:0 with its data in a temporary
// directory and stops it when the test ends (a failing Close fails the
// test). Its defaults suit tests: one partition of __consumer_offsets, a
// 50 ms initial rebalance delay and a 500 ms minimum session timeout; mod,
// if not nil, changes the configuration before the broker starts. It logs
// at info level into Logs, printed if the test fails.
func Start(t testing.TB, mod func(*cluster.Config)) *Broker {
	t.Helper()
	logs := &Logs{}
	cfg := cluster.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.OffsetsTopicNumPartitions = 1
	cfg.GroupInitialRebalanceDelay = 50 * time.Millisecond
	cfg.GroupMinSessionTimeout = 500 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if mod != nil {
		mod(&cfg)
	}
	b, err := cluster.New(cfg)
	if err != nil {
		t.Fatalf("clustertest: start broker: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve() }()
	t.Cleanup(func() {
		if err := errors.Join(b.Close(), <-done); err != nil {
			t.Errorf("clustertest: broker: %v", err)
		}
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	return &Broker{Broker: b, Logs: logs}
}

// Logger returns a logger that keeps what it is given and prints it,
// headed by name, if the test fails.
func Logger(t testing.TB, name string, level slog.Level) *slog.Logger {
	logs := &Logs{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", name, logs.String())
		}
	})
	return slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
}

// Logs is a goroutine-safe log sink.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *Logs) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *Logs) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
