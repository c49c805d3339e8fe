package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

// The records of __consumer_offsets, in Kafka's own formats (kmsg's
// internal types), so that Kafka's tools and runnel read each other's:
//
//	key version 0-1  OffsetCommitKey   (group, topic, partition)
//	                 OffsetCommitValue v0-4; we write v3 (offset, leader
//	                 epoch, metadata, commit timestamp), or v1 when the
//	                 commit asked for its own retention (OffsetCommit v2-4)
//	key version 2    GroupMetadataKey  (group)
//	                 GroupMetadataValue v0-4, as the membership half hands
//	                 it to storeGroup
//
// A null value is a tombstone: the offset or the group was deleted.
// Kafka 4's other key versions (the KIP-848 and share-group records) are
// not ours; they decode as errUnknownRecordKey and are skipped.

const (
	commitKeyVersion   = 1 // what we write; 0 has the same layout
	groupKeyVersion    = 2
	commitValueVersion = 3 // what we write without an expire timestamp
	commitValueExpiry  = 1 // the only version holding an expire timestamp
	commitValueMax     = 4
	groupValueMax      = 4
)

var (
	errBadOffsetRecord  = errors.New("cluster: malformed __consumer_offsets record")
	errUnknownRecordKey = errors.New("cluster: __consumer_offsets record of an unknown kind")
)

// topicPartition names one partition of a topic.
type topicPartition struct {
	topic     string
	partition int32
}

// offsetRecord is one decoded record of __consumer_offsets: an offset
// commit (key version 0-1: group, tp, commit) or a group's metadata (key
// version 2: group, meta). commit or meta is nil for a tombstone.
type offsetRecord struct {
	keyVersion int16
	group      string
	tp         topicPartition           // commits
	commit     *kmsg.OffsetCommitValue  // commits; nil: tombstone
	meta       *kmsg.GroupMetadataValue // group metadata; nil: tombstone
}

func (r *offsetRecord) isCommit() bool { return r.keyVersion < groupKeyVersion }

// commitRecord is the record of one committed offset.
func commitRecord(group string, tp topicPartition, c committedOffset) offsetRecord {
	v := kmsg.NewOffsetCommitValue()
	v.Version = commitValueVersion
	if c.expireMs >= 0 {
		v.Version, v.ExpireTimestamp = commitValueExpiry, c.expireMs
	}
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = c.offset, c.leaderEpoch, c.metadata, c.commitMs
	return offsetRecord{keyVersion: commitKeyVersion, group: group, tp: tp, commit: &v}
}

// commitTombstone is the record that deletes one committed offset.
func commitTombstone(group string, tp topicPartition) offsetRecord {
	return offsetRecord{keyVersion: commitKeyVersion, group: group, tp: tp}
}

// decodeOffsetRecord decodes a record's key and value (nil: a tombstone).
// It never panics, whatever the bytes; the strings it returns are copies,
// but a group metadata value's byte fields (subscriptions, assignments)
// alias value.
func decodeOffsetRecord(key, value []byte) (offsetRecord, error) {
	var r offsetRecord
	if len(key) < 2 {
		return r, fmt.Errorf("%w: key of %d bytes", errBadOffsetRecord, len(key))
	}
	r.keyVersion = int16(binary.BigEndian.Uint16(key))
	switch {
	case r.keyVersion == 0 || r.keyVersion == 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return r, fmt.Errorf("%w: offset commit key: %v", errBadOffsetRecord, err)
		}
		r.group, r.tp = k.Group, topicPartition{k.Topic, k.Partition}
		if value == nil {
			return r, nil
		}
		v := new(kmsg.OffsetCommitValue)
		if err := v.ReadFrom(value); err != nil {
			return r, fmt.Errorf("%w: offset commit value: %v", errBadOffsetRecord, err)
		}
		if v.Version < 0 || v.Version > commitValueMax {
			return r, fmt.Errorf("%w: offset commit value version %d", errBadOffsetRecord, v.Version)
		}
		r.commit = v
	case r.keyVersion == groupKeyVersion:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return r, fmt.Errorf("%w: group metadata key: %v", errBadOffsetRecord, err)
		}
		r.group = k.Group
		if value == nil {
			return r, nil
		}
		v, err := decodeGroupValue(value)
		if err != nil {
			return r, err
		}
		r.meta = v
	default:
		return r, fmt.Errorf("%w: key version %d", errUnknownRecordKey, r.keyVersion)
	}
	return r, nil
}

// decodeGroupValue decodes a GroupMetadataValue of a version we know.
func decodeGroupValue(value []byte) (*kmsg.GroupMetadataValue, error) {
	v := new(kmsg.GroupMetadataValue)
	if err := v.ReadFrom(value); err != nil {
		return nil, fmt.Errorf("%w: group metadata value: %v", errBadOffsetRecord, err)
	}
	if v.Version < 0 || v.Version > groupValueMax {
		return nil, fmt.Errorf("%w: group metadata value version %d", errBadOffsetRecord, v.Version)
	}
	return v, nil
}

// appendKey appends the record's key, in the key version it was decoded
// with or built with.
func (r *offsetRecord) appendKey(dst []byte) []byte {
	if r.isCommit() {
		k := kmsg.OffsetCommitKey{Version: r.keyVersion, Group: r.group, Topic: r.tp.topic, Partition: r.tp.partition}
		return k.AppendTo(dst)
	}
	k := kmsg.GroupMetadataKey{Version: r.keyVersion, Group: r.group}
	return k.AppendTo(dst)
}

// appendValue appends the record's value; a tombstone's is nil (null),
// never empty.
func (r *offsetRecord) appendValue(dst []byte) []byte {
	switch {
	case r.commit != nil:
		return r.commit.AppendTo(dst)
	case r.meta != nil:
		return r.meta.AppendTo(dst)
	}
	return nil
}

// appendOffsetBatch appends one uncompressed RecordBatch holding recs,
// stamped nowMs, as the broker writes them to __consumer_offsets.
func appendOffsetBatch(dst []byte, recs []offsetRecord, nowMs int64) ([]byte, error) {
	if len(recs) == 0 {
		return dst, errors.New("cluster: empty __consumer_offsets batch")
	}
	rs := make([]rlog.Record, len(recs))
	for i := range recs {
		rs[i] = rlog.Record{OffsetDelta: int32(i), Key: recs[i].appendKey(nil), Value: recs[i].appendValue(nil)}
	}
	h := rlog.BatchHeader{BaseTimestamp: nowMs, MaxTimestamp: nowMs, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	return rlog.AppendBatch(dst, h, rs, rlog.CompressionNone)
}

// consumerTopics returns the topics a consumer group's members subscribe
// to, read from their ConsumerMemberMetadata. ok is false when the group
// is not a "consumer" group or a subscription cannot be read: then the
// topics are unknown.
func consumerTopics(v *kmsg.GroupMetadataValue) (topics map[string]bool, ok bool) {
	if v.ProtocolType != "consumer" {
		return nil, false
	}
	topics = map[string]bool{}
	for i := range v.Members {
		var m kmsg.ConsumerMemberMetadata
		if err := m.ReadFrom(v.Members[i].Subscription); err != nil {
			return nil, false
		}
		for _, t := range m.Topics {
			topics[t] = true
		}
	}
	return topics, true
}
