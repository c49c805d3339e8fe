// Package stream will hold runnel's stream-processing layer: a typed DSL
// (map, filter, aggregate, window, join) whose key and value types are Go
// generics, the topology it builds, and the runtime that cuts a topology into
// tasks (one per sub-topology and input partition) and runs them on workers
// that share the work through Kafka consumer groups, with a task assignor
// that keeps co-partitioned inputs together and tasks sticky. It talks to a
// cluster only as a Kafka client (franz-go), so the same topologies run
// against runnel, Apache Kafka or Redpanda; its one exception is an embedded
// mode that starts a runnel broker in-process on a loopback port. A test
// driver will run topologies synchronously in memory. Nothing is here yet.
package stream
