// Package cluster is the runnel broker: a server for the Apache Kafka wire
// protocol (request and response structs from franz-go's kmsg, one file per
// API key, named as Kafka numbers them: 00_produce.go, 01_fetch.go, ...),
// topics and partitions stored with package log, idempotent producers, and
// the consumer group coordinator (membership in the pure state machine of
// package cluster/group, committed offsets in the compacted
// __consumer_offsets topic).
//
// Today it runs as a single node: every partition has one replica, this
// broker, which is also the controller. The partition state is shaped for
// replication (leader epoch, replica set, in-sync replicas, a high watermark
// separate from the log end), which later work fills in.
package cluster
