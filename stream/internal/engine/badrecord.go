package engine

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
)

// BadRecordPolicy says what happens to an input record whose key or value
// does not deserialize: it is logged and skipped (the zero policy), the
// task fails (Fail), or it is logged and copied, bytes unchanged, to a
// dead-letter topic (DeadLetterTopic) with headers saying why.
type BadRecordPolicy struct {
	Fail            bool
	DeadLetterTopic string
}

// Dead-letter record headers, as in Kafka Streams (KIP-1034).
const (
	HeaderErrorMessage   = "__streams.errors.message"
	HeaderErrorTopic     = "__streams.errors.topic"
	HeaderErrorPartition = "__streams.errors.partition"
	HeaderErrorOffset    = "__streams.errors.offset"
)

// Handle applies the policy to a bad record; a non-nil error stops the
// task. send writes the dead-letter record.
func (p BadRecordPolicy) Handle(logger *slog.Logger, send func(topic string, key, value []byte, ts int64, h []Header) error,
	id TaskID, o Origin, key, value []byte, err error) error {
	attrs := []any{"task", id.String(), "topic", o.Topic, "partition", o.Partition, "offset", o.Offset, "err", err}
	if p.Fail {
		return fmt.Errorf("stream: task %s: record %s-%d@%d does not deserialize: %w", id, o.Topic, o.Partition, o.Offset, err)
	}
	if p.DeadLetterTopic == "" {
		logger.Log(context.Background(), slog.LevelWarn, "stream: skipping a record that does not deserialize", attrs...)
		return nil
	}
	logger.Log(context.Background(), slog.LevelWarn, "stream: record that does not deserialize sent to dead-letter topic "+p.DeadLetterTopic, attrs...)
	h := []Header{
		{Key: HeaderErrorMessage, Value: []byte(err.Error())},
		{Key: HeaderErrorTopic, Value: []byte(o.Topic)},
		{Key: HeaderErrorPartition, Value: []byte(strconv.Itoa(int(o.Partition)))},
		{Key: HeaderErrorOffset, Value: []byte(strconv.FormatInt(o.Offset, 10))},
	}
	return send(p.DeadLetterTopic, key, value, -1, h)
}
