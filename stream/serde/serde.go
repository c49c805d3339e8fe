// Package serde turns typed keys and values into the bytes of Kafka
// records and back. A Serde is the pair of functions for one Go type; the
// stream DSL takes one for every key and value that crosses a topic, a
// state store or a changelog.
//
// The wire formats of String, Bytes and Int64 are those of Kafka's
// StringSerde, ByteArraySerde and LongSerde, so topics written by Java
// Kafka Streams apps (or kcat) read the same here.
package serde

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Serde encodes values of type T to bytes and decodes them back. Decode
// must not keep b after it returns (the caller may reuse it). A nil slice
// is Kafka's null: Decode of nil is never called by the stream runtime
// (a null value is a tombstone), so implementations need not handle it.
type Serde[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(b []byte) (T, error)
}

// Func makes a Serde from two functions.
func Func[T any](encode func(T) ([]byte, error), decode func([]byte) (T, error)) Serde[T] {
	return funcSerde[T]{encode, decode}
}

type funcSerde[T any] struct {
	enc func(T) ([]byte, error)
	dec func([]byte) (T, error)
}

func (s funcSerde[T]) Encode(v T) ([]byte, error) { return s.enc(v) }
func (s funcSerde[T]) Decode(b []byte) (T, error) { return s.dec(b) }

// String is UTF-8 text, as Kafka's StringSerde.
var String Serde[string] = stringSerde{}

// Bytes passes bytes through; Decode copies them (an empty b decodes
// to nil).
var Bytes Serde[[]byte] = bytesSerde{}

// Int64 is an 8-byte big-endian integer, as Kafka's LongSerde.
var Int64 Serde[int64] = int64Serde{}

// The built-in serdes are types of their own, not Func: one call less
// per record.
type (
	stringSerde struct{}
	bytesSerde  struct{}
	int64Serde  struct{}
)

func (stringSerde) Encode(s string) ([]byte, error) { return []byte(s), nil }
func (stringSerde) Decode(b []byte) (string, error) { return string(b), nil }

func (bytesSerde) Encode(b []byte) ([]byte, error) { return b, nil }

// Decode copies b with make then copy: one allocation the compiler does
// not zero (append to nil rounds up to a size class and clears the tail).
func (bytesSerde) Decode(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c, nil
}

func (int64Serde) Encode(v int64) ([]byte, error) {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(v))
	return b, nil
}

func (int64Serde) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("serde: int64 needs 8 bytes, got %d", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// JSON encodes T with encoding/json.
func JSON[T any]() Serde[T] {
	return Func(
		func(v T) ([]byte, error) { return json.Marshal(v) },
		func(b []byte) (T, error) {
			var v T
			if err := json.Unmarshal(b, &v); err != nil {
				return v, fmt.Errorf("serde: json %T: %w", v, err)
			}
			return v, nil
		},
	)
}

// Default returns the serde runnel picks for T when none is given: String
// for string, Bytes for []byte, Int64 for int64, JSON for anything else.
func Default[T any]() Serde[T] {
	var zero T
	switch any(zero).(type) {
	case string:
		return any(String).(Serde[T])
	case []byte:
		return any(Bytes).(Serde[T])
	case int64:
		return any(Int64).(Serde[T])
	}
	return JSON[T]()
}
