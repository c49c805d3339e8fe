package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/runnel-io/runnel/cluster"
)

// The brokers, as they run in a child process.
const (
	peerRunnel    = "runnel"
	peerKfake     = "kfake"
	peerJetStream = "jetstream"
)

// startRunnel runs runnel's broker with its defaults (cluster.DefaultConfig:
// Kafka's broker defaults, 1 GiB segments, no fsync policy) on a free
// loopback port.
func startRunnel(dir string) (*broker, error) {
	cfg := cluster.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := cluster.New(cfg)
	if err != nil {
		return nil, err
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve() }()
	return &broker{
		addrs: []string{b.Addr().String()},
		close: func() error {
			err := b.Close()
			return errors.Join(err, <-served)
		},
	}, nil
}

// kfakeBrokers, when not 0, overrides kfake's number of brokers
// (-kfake-brokers, for diagnosis; the figures use kfake's default).
var kfakeBrokers int

// startKfake runs kfake as its users do: NewCluster with its defaults
// (three brokers in one process, everything in memory), each broker on a
// free loopback port.
func startKfake(string) (*broker, error) {
	var opts []kfake.Opt
	if kfakeBrokers > 0 {
		opts = append(opts, kfake.NumBrokers(kfakeBrokers))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, err
	}
	return &broker{addrs: c.ListenAddrs(), close: func() error { c.Close(); return nil }}, nil
}

// jetStreamOptions is the embedded nats-server's configuration: JetStream
// on, file storage in dir, everything else nats-server's default (no
// fsync per message: the file store syncs every SyncInterval, 2 minutes).
func jetStreamOptions(dir string) *server.Options {
	return &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  dir,
		NoSigs:    true,
		NoLog:     true,
	}
}

func startJetStream(dir string) (*broker, error) {
	s, err := server.NewServer(jetStreamOptions(dir))
	if err != nil {
		return nil, err
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats-server not ready within 30s")
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		return nil, fmt.Errorf("nats-server started without JetStream")
	}
	return &broker{
		addrs: []string{s.ClientURL()},
		close: func() error { s.Shutdown(); s.WaitForShutdown(); return nil },
	}, nil
}

func natsServerVersion() string { return "v" + server.VERSION }
