// Package cluster will hold the runnel broker: a server for the Apache Kafka
// wire protocol (request and response structs from franz-go's kmsg, one file
// per API key), topics and partitions stored with package log, replication
// from leaders to followers with in-sync-replica and high-watermark
// bookkeeping, a Raft-based controller for metadata and leader election, and
// the consumer group coordinator. The protocol state machines (coordinator,
// ISR bookkeeping, controller decisions) are plain structs with no
// goroutines, clocks or sockets; the code around them does the I/O. Nothing
// is here yet.
package cluster
