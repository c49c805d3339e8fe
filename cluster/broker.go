package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	rlog "github.com/runnel-io/runnel/log"
)

// Config is a broker's static configuration, named after Kafka's broker
// settings. Build it with DefaultConfig and change what you need; New
// validates it once.
type Config struct {
	Listen         string // host:port to listen on; port 0 picks one
	AdvertisedHost string // host clients are told to connect to; default: the listener's
	DataDir        string
	NodeID         int32
	ClusterID      string

	AutoCreateTopics         bool  // auto.create.topics.enable
	NumPartitions            int32 // num.partitions, for auto-created topics
	DefaultReplicationFactor int16 // default.replication.factor
	MessageMaxBytes          int   // message.max.bytes: the default max.message.bytes of topics
	SocketRequestMaxBytes    int32 // socket.request.max.bytes

	// LogDefaults are the topic defaults (log.retention.ms, log.segment.bytes,
	// ... in Kafka's broker config).
	LogDefaults rlog.Config
	// MaintenanceInterval is how often retention, compaction, flush.ms and
	// segment.ms are applied (log.retention.check.interval.ms), and
	// committed offsets expire.
	MaintenanceInterval time.Duration

	// OffsetsTopicNumPartitions is offsets.topic.num.partitions: the
	// partitions of __consumer_offsets when it is created.
	OffsetsTopicNumPartitions int32
	// OffsetsRetention is offsets.retention.minutes: how long a group
	// keeps its committed offsets once it has no members.
	OffsetsRetention time.Duration
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes: the longest
	// metadata string a commit may carry.
	OffsetMetadataMaxBytes int

	// GroupInitialRebalanceDelay is group.initial.rebalance.delay.ms: how
	// long an Empty group's first rebalance waits for more members.
	GroupInitialRebalanceDelay time.Duration
	// GroupMinSessionTimeout and GroupMaxSessionTimeout are
	// group.min.session.timeout.ms and group.max.session.timeout.ms.
	GroupMinSessionTimeout, GroupMaxSessionTimeout time.Duration
	// GroupMaxSize is group.max.size: the most members a group may have.
	GroupMaxSize int

	Logger *slog.Logger
}

// DefaultConfig returns Kafka's defaults for a single node listening on
// 127.0.0.1:9092 with its data in ./data.
func DefaultConfig() Config {
	ld := rlog.DefaultConfig()
	return Config{
		Listen:                   "127.0.0.1:9092",
		DataDir:                  "data",
		NodeID:                   0,
		AutoCreateTopics:         true,
		NumPartitions:            1,
		DefaultReplicationFactor: 1,
		MessageMaxBytes:          rlog.DefaultMaxBatchBytes,
		SocketRequestMaxBytes:    100 << 20,
		LogDefaults:              ld,
		MaintenanceInterval:      30 * time.Second,

		OffsetsTopicNumPartitions: 50,
		OffsetsRetention:          7 * 24 * time.Hour,
		OffsetMetadataMaxBytes:    4096,

		GroupInitialRebalanceDelay: 3 * time.Second,
		GroupMinSessionTimeout:     6 * time.Second,
		GroupMaxSessionTimeout:     30 * time.Minute,
		GroupMaxSize:               10_000,
	}
}

func (c *Config) validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("cluster: data dir is required")
	case c.NumPartitions < 1:
		return fmt.Errorf("cluster: num.partitions %d < 1", c.NumPartitions)
	case c.DefaultReplicationFactor != 1:
		return fmt.Errorf("cluster: default.replication.factor %d: a single node can only hold 1", c.DefaultReplicationFactor)
	case c.MessageMaxBytes < rlog.BatchHeaderSize:
		return fmt.Errorf("cluster: message.max.bytes %d too small", c.MessageMaxBytes)
	case c.SocketRequestMaxBytes < 1024:
		return fmt.Errorf("cluster: socket.request.max.bytes %d too small", c.SocketRequestMaxBytes)
	case c.MaintenanceInterval <= 0:
		return fmt.Errorf("cluster: maintenance interval %v must be positive", c.MaintenanceInterval)
	case c.OffsetsTopicNumPartitions < 1 || c.OffsetsTopicNumPartitions > maxPartitions:
		return fmt.Errorf("cluster: offsets.topic.num.partitions %d out of range [1, %d]", c.OffsetsTopicNumPartitions, maxPartitions)
	case c.OffsetsRetention <= 0:
		return fmt.Errorf("cluster: offsets.retention %v must be positive", c.OffsetsRetention)
	case c.OffsetMetadataMaxBytes < 0:
		return fmt.Errorf("cluster: offset.metadata.max.bytes %d is negative", c.OffsetMetadataMaxBytes)
	case c.GroupInitialRebalanceDelay < 0:
		return fmt.Errorf("cluster: group.initial.rebalance.delay %v is negative", c.GroupInitialRebalanceDelay)
	case c.GroupMinSessionTimeout <= 0 || c.GroupMaxSessionTimeout < c.GroupMinSessionTimeout:
		return fmt.Errorf("cluster: group session timeouts [%v, %v] are not a range", c.GroupMinSessionTimeout, c.GroupMaxSessionTimeout)
	case c.GroupMaxSize < 1:
		return fmt.Errorf("cluster: group.max.size %d < 1", c.GroupMaxSize)
	}
	c.LogDefaults.MaxBatchBytes = c.MessageMaxBytes
	return c.LogDefaults.Validate()
}

// Broker is a single runnel broker serving the Kafka protocol from
// partition logs in its data directory.
//
// Threading: Serve runs the accept loop; every connection has its own
// goroutine that reads a request, handles it and writes the response
// before reading the next (as Kafka mutes a connection while a request is
// in flight), so responses keep the order of requests. Shared state lives
// in the topic store (its own lock) and the partitions (theirs).
type Broker struct {
	cfg    Config
	logger *slog.Logger
	ln     net.Listener
	topics *topicStore
	pids   *producerIDs
	// offsets holds committed offsets in __consumer_offsets (offsets.go);
	// coord is the membership half of the group coordinator (groups.go).
	offsets *offsetStore
	coord   groupMembership
	groups  *coordinator // coord, as the group APIs' handlers use it

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	conns  struct {
		sync.Mutex
		m map[net.Conn]struct{}
	}
	closeOnce sync.Once
	closeErr  error
}

// New opens the data directory (recovering every partition log) and
// binds the listener. Call Serve to accept connections.
func New(cfg Config) (*Broker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.ClusterID == "" {
		cfg.ClusterID = "runnel"
	}
	b := &Broker{cfg: cfg, logger: logger}
	b.conns.m = map[net.Conn]struct{}{}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	var err error
	if b.pids, err = openProducerIDs(filepath.Join(cfg.DataDir, metaDir)); err != nil {
		return nil, err
	}
	if b.topics, err = openTopicStore(cfg.DataDir, &b.cfg, logger); err != nil {
		return nil, err
	}
	if b.offsets, err = openOffsets(&b.cfg, b.topics, logger); err != nil {
		b.topics.close()
		return nil, err
	}
	b.groups = newCoordinator(cfg.groupConfig(), logger)
	b.coord = b.groups
	if err = b.offsets.load(b.coord); err != nil {
		b.topics.close()
		return nil, err
	}
	b.groups.setStore(b.offsets)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		b.topics.close()
		return nil, fmt.Errorf("cluster: listen on %s: %w", cfg.Listen, err)
	}
	b.ln = ln
	return b, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() net.Addr { return b.ln.Addr() }

// advertised returns the host and port clients should connect to.
func (b *Broker) advertised() (string, int32) {
	host, portStr, _ := net.SplitHostPort(b.ln.Addr().String())
	if b.cfg.AdvertisedHost != "" {
		host = b.cfg.AdvertisedHost
	}
	port, _ := strconv.Atoi(portStr)
	return host, int32(port)
}

// Serve accepts connections until Close. It runs the background
// maintenance of the logs too.
func (b *Broker) Serve() error {
	// Close takes conns' lock before it waits for wg: adding to wg under
	// it, once Close has not begun, keeps Add from racing with Wait.
	b.conns.Lock()
	if b.ctx.Err() != nil {
		b.conns.Unlock()
		return nil
	}
	b.wg.Add(2)
	b.conns.Unlock()
	go func() {
		defer b.wg.Done()
		b.maintain()
	}()
	go func() {
		defer b.wg.Done()
		b.groups.run(b.ctx)
	}()
	b.logger.Info("runnel broker ready", "addr", b.ln.Addr().String(), "node", b.cfg.NodeID,
		"data_dir", b.cfg.DataDir, "topics", b.topics.count())
	for {
		c, err := b.ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("cluster: accept: %w", err)
		}
		if !b.track(c) {
			c.Close()
			return nil
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer b.untrack(c)
			b.serveConn(c)
		}()
	}
}

func (b *Broker) track(c net.Conn) bool {
	b.conns.Lock()
	defer b.conns.Unlock()
	if b.ctx.Err() != nil {
		return false
	}
	b.conns.m[c] = struct{}{}
	return true
}

func (b *Broker) untrack(c net.Conn) {
	b.conns.Lock()
	delete(b.conns.m, c)
	b.conns.Unlock()
	c.Close()
}

// maintain applies retention, compaction, flush.ms and segment.ms to every
// partition on a timer.
func (b *Broker) maintain() {
	t := time.NewTicker(b.cfg.MaintenanceInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
			b.offsets.expire(time.Now())
			b.topics.maintain()
		}
	}
}

// Close stops accepting, closes every connection, waits for in-flight
// requests, then flushes and closes every log cleanly (so the next start
// needs no recovery).
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		b.ln.Close()
		b.conns.Lock()
		for c := range b.conns.m {
			c.Close()
		}
		b.conns.Unlock()
		b.wg.Wait()
		b.closeErr = b.topics.close()
		b.logger.Info("runnel broker stopped", "addr", b.ln.Addr().String())
	})
	return b.closeErr
}
