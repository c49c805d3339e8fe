package engine

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Rec is a record flowing between the processors of a task.
type Rec struct {
	Key, Value any
	// NullKey: the record's key was null on the wire (and no processor has
	// set one since). Operations that need a key drop such records.
	NullKey bool
	// Tombstone: the value is null (a delete, for a table).
	Tombstone bool
	// TS is the record's timestamp in Unix milliseconds.
	TS      int64
	Headers []Header
}

// As converts an erased key or value back to the type the DSL gave it. A
// nil becomes T's zero value (a tombstone's value, a null key).
func As[T any](x any) T {
	if x == nil {
		var zero T
		return zero
	}
	return x.(T)
}

// Origin is where the record being processed came from: its topic,
// partition and offset. Records created by a punctuation have none
// (Offset -1).
type Origin struct {
	Topic     string
	Partition int32
	Offset    int64
}
