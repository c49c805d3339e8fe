package cluster

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

// ListOffsets: v1-8
//
// One offset per partition, chosen by the request's timestamp:
//   - -2, earliest: the log start offset;
//   - -1, latest: the high watermark (the last stable offset under
//     read_committed, which is the same with no transactions), or the log
//     end offset for a follower (ReplicaID >= 0);
//   - -3, max timestamp (v7+, KIP-734): the first record with the largest
//     timestamp in the log;
//   - -4, earliest local (v8+, KIP-405): the log start offset, as nothing
//     is tiered;
//   - a timestamp t >= 0: the first record whose timestamp is >= t
//     (KIP-33's time index), with that record's timestamp.
//
// A record at or above the high watermark is not an answer for a consumer,
// and no record answers offset -1, timestamp -1, as Kafka does. LeaderEpoch
// (v4+) is the epoch that wrote the returned offset. Any other negative
// timestamp, or a special one below the version that added it, is
// UNSUPPORTED_VERSION; a partition listed twice is INVALID_REQUEST.
// CurrentLeaderEpoch fencing applies (KIP-320): see checkLeaderEpoch.
//
// Version notes: v1 one offset and a timestamp (KIP-79), v2 IsolationLevel
// (KIP-98), v4 CurrentLeaderEpoch and LeaderEpoch (KIP-320), v5
// OFFSET_NOT_AVAILABLE (KIP-207, never needed with one replica), v6
// flexible, v7 -3, v8 -4. v0 is gone since Kafka 4 (KIP-896); v9 (-5,
// latest tiered) and v10 (TimeoutMillis) are about tiered storage.
// franz-go negotiates v8 here, IBM/sarama at most v6.

func init() { register(2, 1, 8, handleListOffsets) }

// listOffsetsMinVersion is the request version that introduced each
// special timestamp.
var listOffsetsMinVersion = map[int64]int16{-1: 1, -2: 1, -3: 7, -4: 8}

func handleListOffsets(b *Broker, _ *clientConn, h requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	type topicPartition struct {
		topic     string
		partition int32
	}
	seen := map[topicPartition]int{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			seen[topicPartition{rt.Topic, rp.Partition}]++
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			minVersion, special := listOffsetsMinVersion[rp.Timestamp]
			switch {
			case seen[topicPartition{rt.Topic, rp.Partition}] > 1:
				sp.ErrorCode = kerr.InvalidRequest.Code
			case rp.Timestamp < 0 && (!special || h.version < minVersion):
				sp.ErrorCode = kerr.UnsupportedVersion.Code
			default:
				b.listOffset(&sp, rt.Topic, &rp, req.ReplicaID >= 0)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// listOffset answers for one partition into sp, whose offset, timestamp
// and epoch start at -1.
func (b *Broker) listOffset(sp *kmsg.ListOffsetsResponseTopicPartition, topic string, rp *kmsg.ListOffsetsRequestTopicPartition, follower bool) {
	p, ok := b.topics.partition(topic, rp.Partition)
	if !ok {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return
	}
	if e := p.checkLeaderEpoch(rp.CurrentLeaderEpoch); e != nil {
		sp.ErrorCode = e.Code
		return
	}
	fetchable := p.log.HighWatermark()
	if follower {
		fetchable = p.log.EndOffset()
	}
	switch rp.Timestamp {
	case -2, -4:
		sp.Offset = p.log.StartOffset()
		sp.LeaderEpoch = p.epochAt(sp.Offset)
		return
	case -1:
		sp.Offset, sp.LeaderEpoch = fetchable, p.leaderEpoch
		return
	}
	var (
		off, ts int64
		found   bool
		err     error
	)
	if rp.Timestamp == -3 {
		off, ts, found, err = maxTimestamp(p.log)
	} else {
		off, ts, found, err = p.log.OffsetForTimestamp(rp.Timestamp)
	}
	switch {
	case errors.Is(err, rlog.ErrClosed):
		sp.ErrorCode = kerr.NotLeaderForPartition.Code
	case err != nil:
		b.logger.Error("cluster: list offsets", "topic", topic, "partition", rp.Partition, "timestamp", rp.Timestamp, "err", err)
		sp.ErrorCode = kerr.KafkaStorageError.Code
	case found && off < fetchable:
		sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, ts, p.epochAt(off)
	}
}

// maxTimestamp finds the first record holding the largest timestamp in the
// log (ListOffsets -3) by bisecting the timestamps with OffsetForTimestamp,
// which answers whether any record is at or after a time: at most 64
// lookups, each a time-index search and one batch read, on a request that
// clients send rarely. found is false for a log with no records.
func maxTimestamp(l *rlog.Log) (off, ts int64, found bool, err error) {
	const minTs, maxTs = -1 << 63, 1<<63 - 1
	off, ts, found, err = l.OffsetForTimestamp(minTs)
	if err != nil || !found {
		return off, ts, found, err
	}
	// Invariant: some record has a timestamp >= lo, the first of them is
	// (off, ts), and none has one >= hi.
	lo, hi := ts, int64(maxTs)
	if o, t, ok, err := l.OffsetForTimestamp(hi); err != nil || ok {
		return o, t, ok, err
	}
	for i := 0; i < 64 && uint64(hi)-uint64(lo) > 1; i++ {
		mid := lo + int64((uint64(hi)-uint64(lo))/2)
		o, t, ok, err := l.OffsetForTimestamp(mid)
		if err != nil {
			return 0, 0, false, err
		}
		if ok {
			lo, off, ts = t, o, t
		} else {
			hi = mid
		}
	}
	return off, ts, true, nil
}
