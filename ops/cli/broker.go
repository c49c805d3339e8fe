package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/runnel-io/runnel/cluster"
	rlog "github.com/runnel-io/runnel/log"
	"github.com/runnel-io/runnel/ops/config"
)

// envPrefix starts the environment variables that set broker flags.
const envPrefix = "RUNNEL_"

const brokerLong = `broker runs a single-node runnel broker that speaks the Apache Kafka wire
protocol: any Kafka client (franz-go, sarama, librdkafka/kcat, kafka-python,
the Java client) can create topics, produce and consume. Its topics and
records live in --data-dir; a restart on the same directory finds them all.

Settings come from, in order of precedence:
  1. flags:                 --log-retention-bytes=10GiB
  2. environment variables: RUNNEL_LOG_RETENTION_BYTES=10GiB
                            (RUNNEL_ + the flag name upper-cased, '-' as '_')
  3. a config file:         --config FILE (or RUNNEL_CONFIG=FILE), in the
                            style of Kafka's server.properties: key=value
                            lines, '#' comment lines, the keys being the flag
                            names (log-retention-bytes=10GiB). An unknown key
                            is an error.
  4. the defaults below, which are Kafka's.
Byte counts take binary suffixes (KiB, MiB, GiB); durations take Go's units
(500ms, 30m, 168h).

The broker logs to stderr, one line when it is ready to serve:
  level=INFO msg="runnel broker ready" addr=127.0.0.1:9092 ...
(with --listen 127.0.0.1:0 the addr says the port picked). On SIGINT or
SIGTERM it stops accepting, closes client connections once the requests they
are in the middle of are handled, flushes every partition, writes its
clean-shutdown markers, logs "runnel broker stopped" and exits 0; the next
start then needs no recovery. A second signal during that stop exits at once (status 1),
as a crash would: the next start recovers the logs.

Consumer groups are served: the group coordinator and committed offsets in
__consumer_offsets ("runnel groups" inspects them).

Not yet: replication (one node, replication factor 1), transactions, TLS
and SASL.`

// brokerSettings are the broker command's flags.
type brokerSettings struct {
	configFile string

	listen         string
	dataDir        string
	nodeID         int32
	advertisedHost string

	autoCreateTopics  bool
	numPartitions     int32
	replicationFactor int16
	messageMaxBytes   int64
	requestMaxBytes   int64

	retention      time.Duration
	retentionBytes int64
	segmentBytes   int64
	flushMessages  int64
	flushInterval  time.Duration

	groupInitialDelay   time.Duration
	groupMinSession     time.Duration
	groupMaxSession     time.Duration
	groupMaxSize        int
	offsetsPartitions   int32
	offsetsRetention    time.Duration
	offsetMetadataBytes int64

	logLevel  string
	logFormat string
}

// addFlags defines the flags on fs, with Kafka's defaults.
func (s *brokerSettings) addFlags(fs *pflag.FlagSet) {
	def := cluster.DefaultConfig()
	fs.StringVar(&s.configFile, "config", "", "read settings from this properties `file` (key=value lines; keys are these flags' names); also RUNNEL_CONFIG")

	fs.StringVar(&s.listen, "listen", def.Listen, "`host:port` to serve the Kafka protocol on; port 0 picks a free one (the ready line says which)")
	fs.StringVar(&s.dataDir, "data-dir", def.DataDir, "`directory` holding topics, records and broker state; created if missing")
	fs.Int32Var(&s.nodeID, "node-id", def.NodeID, "this broker's node id, as clients see it in metadata (Kafka's node.id)")
	fs.StringVar(&s.advertisedHost, "advertised-host", "", "`host` clients are told to connect to (default: the listener's host)")

	fs.BoolVar(&s.autoCreateTopics, "auto-create-topics", def.AutoCreateTopics, "create a topic when a client asks for metadata of an unknown one (auto.create.topics.enable)")
	fs.Int32Var(&s.numPartitions, "num-partitions", def.NumPartitions, "partitions of auto-created topics (num.partitions)")
	fs.Int16Var(&s.replicationFactor, "default-replication-factor", def.DefaultReplicationFactor, "replication factor of auto-created topics; a single node supports only 1 (default.replication.factor)")
	fs.Var(config.NewBytes(&s.messageMaxBytes, int64(def.MessageMaxBytes), rlog.BatchHeaderSize, math.MaxInt32), "message-max-bytes",
		"largest record batch accepted; topics may override it with max.message.bytes (message.max.bytes)")
	fs.Var(config.NewBytes(&s.requestMaxBytes, int64(def.SocketRequestMaxBytes), 1024, math.MaxInt32), "socket-request-max-bytes",
		"largest request frame; a bigger one closes its connection (socket.request.max.bytes)")

	ld := def.LogDefaults
	fs.Var(config.NewDuration(&s.retention, ld.RetentionTime, true), "log-retention",
		"delete segments whose newest record is older than this; -1 keeps them forever (log.retention.ms; topics: retention.ms)")
	fs.Var(config.NewBytes(&s.retentionBytes, ld.RetentionBytes, -1, math.MaxInt64), "log-retention-bytes",
		"delete the oldest segments of a partition above this size; -1 for no limit (log.retention.bytes; topics: retention.bytes)")
	fs.Var(config.NewBytes(&s.segmentBytes, ld.SegmentBytes, 14, math.MaxInt32), "log-segment-bytes",
		"roll to a new segment file past this size (log.segment.bytes; topics: segment.bytes)")
	fs.Int64Var(&s.flushMessages, "log-flush-messages", ld.FlushMessages,
		"fsync a partition after this many records; 0 leaves it to the OS, as Kafka does by default (log.flush.interval.messages)")
	fs.Var(config.NewDuration(&s.flushInterval, ld.FlushInterval, false), "log-flush-interval",
		"fsync a partition whose unflushed records are this old; 0 leaves it to the OS (log.flush.interval.ms)")

	fs.Var(config.NewDuration(&s.groupInitialDelay, def.GroupInitialRebalanceDelay, false), "group-initial-rebalance-delay",
		"how long an empty group's first rebalance waits for more members to join (group.initial.rebalance.delay.ms)")
	fs.Var(config.NewDuration(&s.groupMinSession, def.GroupMinSessionTimeout, false), "group-min-session-timeout",
		"shortest session timeout a group member may ask for (group.min.session.timeout.ms)")
	fs.Var(config.NewDuration(&s.groupMaxSession, def.GroupMaxSessionTimeout, false), "group-max-session-timeout",
		"longest session timeout a group member may ask for (group.max.session.timeout.ms)")
	fs.IntVar(&s.groupMaxSize, "group-max-size", def.GroupMaxSize, "most members a consumer group may have (group.max.size)")
	fs.Int32Var(&s.offsetsPartitions, "offsets-topic-num-partitions", def.OffsetsTopicNumPartitions,
		"partitions of __consumer_offsets when it is created; fixed after (offsets.topic.num.partitions)")
	fs.Var(config.NewDuration(&s.offsetsRetention, def.OffsetsRetention, false), "offsets-retention",
		"how long a group with no members keeps its committed offsets (offsets.retention.minutes)")
	fs.Var(config.NewBytes(&s.offsetMetadataBytes, int64(def.OffsetMetadataMaxBytes), 0, math.MaxInt32), "offset-metadata-max-bytes",
		"longest metadata string an offset commit may carry (offset.metadata.max.bytes)")

	fs.Var(config.NewOneOf(&s.logLevel, "info", "debug", "info", "warn", "error"), "log-level", "lowest level logged")
	fs.Var(config.NewOneOf(&s.logFormat, "text", "text", "json"), "log-format", "log line format on stderr: text (key=value) or json")
}

// clusterConfig turns the settings into the broker's config. New
// validates the rest.
func (s *brokerSettings) clusterConfig(logger *slog.Logger) (cluster.Config, error) {
	cfg := cluster.DefaultConfig()
	if s.flushMessages < 0 {
		return cfg, fmt.Errorf("--log-flush-messages %d is negative", s.flushMessages)
	}
	dir, err := filepath.Abs(s.dataDir)
	if err != nil {
		return cfg, fmt.Errorf("--data-dir %q: %w", s.dataDir, err)
	}
	cfg.Listen = s.listen
	cfg.DataDir = dir
	cfg.NodeID = s.nodeID
	cfg.AdvertisedHost = s.advertisedHost
	cfg.AutoCreateTopics = s.autoCreateTopics
	cfg.NumPartitions = s.numPartitions
	cfg.DefaultReplicationFactor = s.replicationFactor
	cfg.MessageMaxBytes = int(s.messageMaxBytes)
	cfg.SocketRequestMaxBytes = int32(s.requestMaxBytes)
	cfg.LogDefaults.RetentionTime = s.retention
	cfg.LogDefaults.RetentionBytes = s.retentionBytes
	cfg.LogDefaults.SegmentBytes = s.segmentBytes
	cfg.LogDefaults.FlushMessages = s.flushMessages
	cfg.LogDefaults.FlushInterval = s.flushInterval
	cfg.GroupInitialRebalanceDelay = s.groupInitialDelay
	cfg.GroupMinSessionTimeout = s.groupMinSession
	cfg.GroupMaxSessionTimeout = s.groupMaxSession
	cfg.GroupMaxSize = s.groupMaxSize
	cfg.OffsetsTopicNumPartitions = s.offsetsPartitions
	cfg.OffsetsRetention = s.offsetsRetention
	cfg.OffsetMetadataMaxBytes = int(s.offsetMetadataBytes)
	cfg.Logger = logger
	return cfg, nil
}

// newLogger returns the broker's logger writing to w.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	// The flag's value type has checked the name already.
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func newBrokerCommand() *cobra.Command {
	cmd, _ := newBrokerCommandEnv(os.Environ)
	return cmd
}

// newBrokerCommandEnv reads its environment through environ, so that tests
// need not change the process's. It returns the settings its flags fill.
func newBrokerCommandEnv(environ func() []string) (*cobra.Command, *brokerSettings) {
	s := &brokerSettings{}
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a Kafka-compatible broker (single node)",
		Long:  brokerLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := s.resolve(cmd.Flags(), environ())
			if err != nil {
				return err
			}
			logger := newLogger(cmd.ErrOrStderr(), s.logLevel, s.logFormat)
			logSettings(logger, cmd.Flags(), s.configFile, res)
			return runBroker(cmd.Context(), s, res, logger)
		},
	}
	s.addFlags(cmd.Flags())
	cmd.Flags().SortFlags = false
	return cmd, s
}

// resolve fills the flags the command line left unset from the
// environment and the config file.
func (s *brokerSettings) resolve(fs *pflag.FlagSet, environ []string) (config.Result, error) {
	file := s.configFile
	if !fs.Changed("config") {
		name := config.EnvName(envPrefix, "config")
		for _, kv := range environ {
			if k, v, ok := strings.Cut(kv, "="); ok && k == name && v != "" {
				file = v
			}
		}
		s.configFile = file
	}
	return config.Apply(fs, config.Sources{
		File:      file,
		EnvPrefix: envPrefix,
		Environ:   environ,
		Skip:      []string{"config", "help"},
	})
}

// runBroker serves until ctx ends (a signal), then stops cleanly.
func runBroker(ctx context.Context, s *brokerSettings, res config.Result, logger *slog.Logger) error {
	warnUnknownEnv(logger, res.UnknownEnv)
	cfg, err := s.clusterConfig(logger)
	if err != nil {
		return err
	}
	if host, _, err := net.SplitHostPort(cfg.Listen); err == nil && cfg.AdvertisedHost == "" {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			logger.Warn("listening on every interface without --advertised-host: clients will be told to connect to the unspecified address, which only works from this machine",
				"listen", cfg.Listen)
		}
	}
	b, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve() }()
	select {
	case err := <-served:
		// Serve failed on its own: stop what it started, report why.
		return errors.Join(err, b.Close())
	case <-ctx.Done():
	}
	logger.Info("runnel broker stopping", "reason", context.Cause(ctx))
	stopForced := forceExitOnSignal(logger)
	defer stopForced()
	if err := errors.Join(b.Close(), <-served); err != nil {
		return fmt.Errorf("broker: stop: %w", err)
	}
	return nil
}

// warnUnknownEnv warns of RUNNEL_ variables that name no broker flag,
// except those of the other commands (RUNNEL_BROKERS).
func warnUnknownEnv(logger *slog.Logger, names []string) {
	for _, name := range names {
		if name == brokersEnv {
			continue
		}
		logger.Warn("ignoring environment variable that names no broker flag", "var", name)
	}
}

// forceExitOnSignal makes a second SIGINT or SIGTERM, while the broker
// closes, exit the process at once. It returns the function that undoes it.
func forceExitOnSignal(logger *slog.Logger) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			logger.Error("second signal while stopping: exiting without a clean shutdown", "signal", sig.String())
			os.Exit(1)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// logSettings logs the start, with where each setting not left at its
// default came from, then every setting's value at debug level.
func logSettings(logger *slog.Logger, fs *pflag.FlagSet, file string, res config.Result) {
	var set, all []any
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		if o := res.Origins[f.Name]; o != config.FromDefault {
			set = append(set, slog.String(f.Name, o.String()))
		}
		all = append(all, slog.String(f.Name, f.Value.String()))
	})
	logger.Info("runnel broker starting", "version", ReadBuildInfo().Version, "pid", os.Getpid(),
		"config_file", file, slog.Group("set_by", set...))
	logger.Debug("broker settings", all...)
}
