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

What exists today is the first piece: the partition log, a Go library
(package github.com/runnel-io/runnel/log) that stores Kafka RecordBatch v2
records in segment files on disk. It is used from Go code; this binary does
not serve it yet, but "runnel log dump DIR" verifies and summarises a log
directory on disk.

Planned, not yet built: a broker that speaks the Apache Kafka wire protocol
(topics, replication, consumer groups), a typed stream DSL whose topologies
run as tasks on workers, and state stores backed by changelog topics. They
will appear here as commands as they land.`

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
	root.AddCommand(newVersionCommand(), newLogCommand())
	return root
}

// Execute runs the command named by os.Args and returns its error, which
// cobra has already printed to stderr. The command's context is cancelled on
// SIGINT or SIGTERM, so long-running commands (a future broker) can stop
// cleanly by watching cmd.Context().
func Execute() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return NewRootCommand().ExecuteContext(ctx)
}
