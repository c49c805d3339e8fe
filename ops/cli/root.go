// Package cli holds the command tree of the runnel binary. It only parses
// arguments and wires packages together; the work lives in the packages it
// calls.
package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

const rootLong = `runnel is a stream-processing framework for Go with its own
Kafka-compatible partition log.

What exists today: the partition log (package github.com/runnel-io/runnel/log,
which stores Kafka RecordBatch v2 records in segment files on disk) and a
single-node broker serving it over the Apache Kafka wire protocol:
"runnel broker" starts one, and any Kafka client can produce to and consume
from it, and consumer groups divide a topic's partitions between their
members. "runnel groups" lists, describes, resets and deletes consumer
groups. "runnel log dump DIR" verifies and summarises a partition log
directory on disk.

Planned, not yet built: replication between brokers, a
typed stream DSL whose topologies run as tasks on workers, and state stores
backed by changelog topics. They will appear here as they land.`

// NewRootCommand returns a fresh runnel command tree. Each call builds new
// commands with no shared state, so tests may build and run trees in parallel.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "runnel",
		Short: "runnel: stream processing for Go on a Kafka-compatible partition log",
		Long:  rootLong,
		// Errors are printed once, by cobra; the usage text would bury them.
		SilenceUsage: true,
	}
	root.AddCommand(newBrokerCommand(), newVersionCommand(), newLogCommand(), newGroupsCommand())
	return root
}

// Execute runs the command named by os.Args and returns its error, which
// cobra has already printed to stderr. The command's context is cancelled on
// SIGINT or SIGTERM, so long-running commands (the broker) can stop
// cleanly by watching cmd.Context().
func Execute() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return NewRootCommand().ExecuteContext(ctx)
}
