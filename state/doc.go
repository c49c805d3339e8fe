// Package state holds the state stores of stream tasks. A store is a
// sorted map of bytes (KeyValue); typed access, window and session layouts
// are built on it. Memory is the in-memory store; Logged wraps any store so
// that every change is also handed to a changelog (the stream runtime
// writes it to a compacted topic and restores the store from it when a
// task moves). Like package stream, it speaks to a cluster only as a Kafka
// client and never imports package cluster.
package state
