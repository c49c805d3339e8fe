// Package state will hold the state stores of stream tasks: a Pebble-backed
// store (with Pebble's WAL off, since the changelog is the source of truth)
// and an in-memory store for tests, one test suite run over both. Every
// change to a store is logged to a compacted changelog topic, and a store is
// restored from it when its task moves to another worker; standby replicas
// keep warm copies, and interactive queries read stores from outside the
// application. Like package stream, it speaks to a cluster only as a Kafka
// client and never imports package cluster. Nothing is here yet.
package state
