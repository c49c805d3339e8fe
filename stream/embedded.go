package stream

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/runnel-io/runnel/cluster"
)

// embeddedPartitions is the partition count of the topics an embedded
// broker creates: missing source topics (created at start), and topics
// auto-created when first written.
const embeddedPartitions = 4

// embedded is a runnel broker running in the process for Embedded mode.
type embedded struct {
	b    *cluster.Broker
	done chan error
}

// startEmbedded starts a broker listening on listen with its data in dir.
// It is meant for one machine's development and examples: the group
// rebalance delay is short (a lone instance starts at once),
// __consumer_offsets has one partition, and new topics have
// embeddedPartitions.
func startEmbedded(dir, listen string, logger *slog.Logger) (*embedded, error) {
	cfg := cluster.DefaultConfig()
	cfg.Listen = listen
	cfg.DataDir = dir
	cfg.OffsetsTopicNumPartitions = 1
	cfg.NumPartitions = embeddedPartitions
	cfg.GroupInitialRebalanceDelay = 100 * time.Millisecond
	cfg.Logger = logger.With("component", "broker")
	b, err := cluster.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("stream: embedded broker: %w", err)
	}
	e := &embedded{b: b, done: make(chan error, 1)}
	go func() { e.done <- b.Serve() }()
	logger.Info("stream: embedded broker started", "addr", e.addr(), "data", dir)
	return e, nil
}

func (e *embedded) addr() string { return e.b.Addr().String() }

// close stops the broker and waits for its accept loop.
func (e *embedded) close(logger *slog.Logger) {
	if err := e.b.Close(); err != nil {
		logger.Warn("stream: embedded broker close", "err", err)
	}
	if err := <-e.done; err != nil {
		logger.Debug("stream: embedded broker stopped", "err", err)
	}
}
