// Package stream is runnel's stream-processing layer: a typed DSL (map,
// filter, aggregate, window, join) whose key and value types are Go
// generics, the topology it builds, and the runtime that cuts a topology
// into tasks (one per sub-topology and input partition) and runs them on
// application instances that share the work through a Kafka consumer group,
// with a task assignor that keeps co-partitioned inputs together and tasks
// sticky.
//
// A word count:
//
//	b := stream.NewBuilder()
//	lines := stream.From(b, "lines", serde.String, serde.String)
//	words := stream.FlatMapValues(lines, strings.Fields)
//	counts := stream.GroupBy(words, func(_, w string) string { return w }).Count(stream.Named("counts"))
//	stream.ToStream(counts).To("word-counts")
//	topo, err := b.Build()
//	app, err := stream.New(topo, stream.Brokers("localhost:9092"), stream.AppID("wordcount"))
//	err = app.Run(ctx)
//
// The semantics are Kafka Streams': records are processed in order per
// partition, stream time is the largest timestamp a task has seen, state
// stores are changelogged to compacted topics, and processing is
// at-least-once. The runtime talks to a cluster only as a Kafka client
// (franz-go), so the same topologies run against runnel, Apache Kafka or
// Redpanda; its one exception is the embedded mode, which starts a runnel
// broker in-process on a loopback port. Package streamtest runs a
// topology synchronously in memory, for tests.
package stream
