package stream

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/runnel-io/runnel/stream/serde"
)

// WindowedSerde is the serde of time-windowed keys, in the wire format of
// Kafka Streams' TimeWindowedSerde: the inner key's bytes, then the
// window start in Unix milliseconds as 8 bytes big-endian. The end is not
// written; Decode sets it to start + size, so size must be the windows'
// size (a sliding window's time difference). A windowed table written to
// a topic uses it by default.
func WindowedSerde[K any](inner serde.Serde[K], size time.Duration) serde.Serde[Windowed[K]] {
	sizeMs := size.Milliseconds()
	return serde.Func(
		func(w Windowed[K]) ([]byte, error) {
			b, err := inner.Encode(w.Key)
			if err != nil {
				return nil, err
			}
			// b[:len:len]: never append into the inner serde's buffer.
			return binary.BigEndian.AppendUint64(b[:len(b):len(b)], uint64(w.Window.Start.UnixMilli())), nil
		},
		func(b []byte) (Windowed[K], error) {
			var w Windowed[K]
			k, times, err := splitWindowed(inner, b, 1)
			if err != nil {
				return w, err
			}
			return Windowed[K]{Key: k, Window: Window{Start: msTime(times[0]), End: msTime(times[0] + sizeMs)}}, nil
		},
	)
}

// SessionWindowedSerde is the serde of session-windowed keys, in the wire
// format of Kafka Streams' SessionWindowedSerde: the inner key's bytes,
// then the session's end and start in Unix milliseconds, 8 bytes
// big-endian each. A session-windowed table written to a topic uses it by
// default.
func SessionWindowedSerde[K any](inner serde.Serde[K]) serde.Serde[Windowed[K]] {
	return serde.Func(
		func(w Windowed[K]) ([]byte, error) {
			b, err := inner.Encode(w.Key)
			if err != nil {
				return nil, err
			}
			b = binary.BigEndian.AppendUint64(b[:len(b):len(b)], uint64(w.Window.End.UnixMilli()))
			return binary.BigEndian.AppendUint64(b, uint64(w.Window.Start.UnixMilli())), nil
		},
		func(b []byte) (Windowed[K], error) {
			var w Windowed[K]
			k, times, err := splitWindowed(inner, b, 2)
			if err != nil {
				return w, err
			}
			return Windowed[K]{Key: k, Window: Window{Start: msTime(times[1]), End: msTime(times[0])}}, nil
		},
	)
}

// splitWindowed decodes the inner key and the n 8-byte times after it.
func splitWindowed[K any](inner serde.Serde[K], b []byte, n int) (K, []int64, error) {
	var k K
	if len(b) < 8*n {
		return k, nil, fmt.Errorf("stream: windowed key of %d bytes: want the key and %d bytes of times", len(b), 8*n)
	}
	cut := len(b) - 8*n
	k, err := inner.Decode(b[:cut])
	if err != nil {
		return k, nil, fmt.Errorf("stream: windowed key: %w", err)
	}
	times := make([]int64, n)
	for i := range times {
		times[i] = int64(binary.BigEndian.Uint64(b[cut+8*i:]))
	}
	return k, times, nil
}
