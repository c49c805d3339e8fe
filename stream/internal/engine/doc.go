// Package engine is the untyped core under the stream DSL: the graph of
// sources, processors, stores and sinks, its cut into sub-topologies, and
// the task that runs one sub-topology for one partition.
//
// Records inside a task are Rec values whose keys and values are Go values
// of the types the DSL chose (any here); the DSL's generic functions are
// the only place those types are named, so a type mismatch is a compile
// error there and a type assertion can only fail on a bug in the DSL.
//
// A task does no I/O of its own: an Env (the Kafka runtime, or the
// in-memory test driver) hands it input records, receives its output
// records, and supplies its state stores.
package engine
