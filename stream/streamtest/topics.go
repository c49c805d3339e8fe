package streamtest

import (
	"time"

	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
)

// InputTopic writes typed records to one of the driver's input topics.
type InputTopic[K, V any] struct {
	d     *Driver
	topic string
	ks    serde.Serde[K]
	vs    serde.Serde[V]
}

// Input returns a typed writer for topic.
func Input[K, V any](d *Driver, topic string, ks serde.Serde[K], vs serde.Serde[V]) *InputTopic[K, V] {
	return &InputTopic[K, V]{d: d, topic: topic, ks: ks, vs: vs}
}

// Pipe writes one record with timestamp ts and processes it.
func (in *InputTopic[K, V]) Pipe(key K, value V, ts time.Time) error {
	k, err := in.ks.Encode(key)
	if err != nil {
		return err
	}
	v, err := in.vs.Encode(value)
	if err != nil {
		return err
	}
	if v == nil {
		v = []byte{}
	}
	return in.d.Pipe(in.topic, k, v, ts)
}

// Tombstone writes a record with a null value (a delete, for a table).
func (in *InputTopic[K, V]) Tombstone(key K, ts time.Time) error {
	k, err := in.ks.Encode(key)
	if err != nil {
		return err
	}
	return in.d.Pipe(in.topic, k, nil, ts)
}

// PipeNullKey writes a record with a null key.
func (in *InputTopic[K, V]) PipeNullKey(value V, ts time.Time) error {
	v, err := in.vs.Encode(value)
	if err != nil {
		return err
	}
	return in.d.Pipe(in.topic, nil, v, ts)
}

// OutputTopic reads typed records from a topic the topology writes.
type OutputTopic[K, V any] struct {
	d     *Driver
	topic string
	ks    serde.Serde[K]
	vs    serde.Serde[V]
}

// Output returns a typed reader of topic. Each reader starts at the
// topic's first record.
func Output[K, V any](d *Driver, topic string, ks serde.Serde[K], vs serde.Serde[V]) *OutputTopic[K, V] {
	return &OutputTopic[K, V]{d: d, topic: topic, ks: ks, vs: vs}
}

// ReadAll returns the records written to the topic since the last ReadAll
// of any reader of this topic (the topic is a queue, as in Kafka Streams'
// TestOutputTopic).
func (out *OutputTopic[K, V]) ReadAll() ([]stream.Record[K, V], error) {
	l := out.d.log(out.topic)
	msgs := l.msgs[l.read:]
	l.read = len(l.msgs)
	recs := make([]stream.Record[K, V], 0, len(msgs))
	for _, m := range msgs {
		r := stream.Record[K, V]{Timestamp: m.Timestamp, Headers: m.Headers, Tombstone: m.Value == nil, NullKey: m.Key == nil}
		var err error
		if m.Key != nil {
			if r.Key, err = out.ks.Decode(m.Key); err != nil {
				return nil, err
			}
		}
		if m.Value != nil {
			if r.Value, err = out.vs.Decode(m.Value); err != nil {
				return nil, err
			}
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// Latest reads the latest value per key written to the topic so far: the
// table the topic stands for (a tombstone deletes its key; records with
// null keys are left out). It does not move ReadAll's position.
func Latest[K comparable, V any](out *OutputTopic[K, V]) (map[K]V, error) {
	m := map[K]V{}
	for _, msg := range out.d.log(out.topic).msgs {
		if msg.Key == nil {
			continue
		}
		k, err := out.ks.Decode(msg.Key)
		if err != nil {
			return nil, err
		}
		if msg.Value == nil {
			delete(m, k)
			continue
		}
		v, err := out.vs.Decode(msg.Value)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// Store returns typed access to one of the driver's key-value stores, or
// nil if there is none by that name.
func Store[K, V any](d *Driver, name string, ks serde.Serde[K], vs serde.Serde[V]) *stream.KeyValueStore[K, V] {
	kv := d.Store(name)
	if kv == nil {
		return nil
	}
	return stream.NewKeyValueStore(kv, ks, vs)
}
