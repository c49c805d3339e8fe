package launch

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/stream/serde"
)

// Tail is a side that prints the records written to topic from now on,
// one line each as format makes it (value is V's zero value for a
// tombstone; an empty line is not printed). It creates the topic if it does not exist yet, so that the
// application's first results are not missed.
func Tail[K, V any](topic string, ks serde.Serde[K], vs serde.Serde[V], format func(r *kgo.Record, k K, v V) string) Side {
	return func(ctx context.Context, brokers []string) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
		if err != nil {
			return fmt.Errorf("tail %s: %w", topic, err)
		}
		defer cl.Close()
		_, err = kadm.NewClient(cl).CreateTopic(ctx, -1, -1, nil, topic)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) && ctx.Err() == nil {
			return fmt.Errorf("tail %s: create topic: %w", topic, err)
		}
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachError(func(t string, p int32, err error) {
				if ctx.Err() == nil {
					fmt.Fprintf(os.Stderr, "tail %s[%d]: %v\n", t, p, err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) {
				if line := formatRecord(r, ks, vs, format); line != "" {
					fmt.Println(line)
				}
			})
		}
		return nil
	}
}

// CreateTopics creates the topics that do not exist yet, with the given
// number of partitions.
func CreateTopics(ctx context.Context, brokers []string, partitions int32, topics ...string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	defer cl.Close()
	resps, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, -1, nil, topics...)
	if err != nil {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w %s", r.Topic, r.Err, r.ErrMessage)
		}
	}
	return nil
}

func formatRecord[K, V any](r *kgo.Record, ks serde.Serde[K], vs serde.Serde[V], format func(*kgo.Record, K, V) string) string {
	var k K
	var v V
	var err error
	if r.Key != nil {
		if k, err = ks.Decode(r.Key); err != nil {
			return fmt.Sprintf("%s[%d]@%d: undecodable key %q: %v", r.Topic, r.Partition, r.Offset, r.Key, err)
		}
	}
	if r.Value != nil {
		if v, err = vs.Decode(r.Value); err != nil {
			return fmt.Sprintf("%s[%d]@%d: undecodable value %q: %v", r.Topic, r.Partition, r.Offset, r.Value, err)
		}
	}
	return format(r, k, v)
}
