package cluster

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

// Fetch: v4-16
//
// Each requested partition answers with the whole record batches from the
// one holding FetchOffset on, as the log stores them: never decoded or
// re-encoded, and sent from the log file to the socket by sendfile when
// the response is large (fetch_response.go). A consumer reads below the high watermark; a follower
// (ReplicaID >= 0) reads up to the log end offset. With no transactions
// the last stable offset is the high watermark, both isolation levels read
// the same records, and AbortedTransactions is empty.
//
// Long poll: while fewer than MinBytes are readable across the requested
// partitions, the request waits up to MaxWaitMillis for an append to any
// of them, then answers with what there is. An error on any partition
// answers at once, as does the broker closing.
//
// Limits: MaxBytes bounds the record bytes of the whole response and
// PartitionMaxBytes each partition's, in whole batches; the first batch of
// the first partition with records goes whole even when it is larger, so
// that a consumer always progresses (KIP-74).
//
// Fetch sessions (KIP-227) are declined: the response's SessionID is
// always 0, which tells the client to send full fetches. A request that
// continues a session (epoch other than 0 and -1) answers
// FETCH_SESSION_ID_NOT_FOUND, and the client starts over.
//
// Version notes: v4 IsolationLevel, LastStableOffset, AbortedTransactions
// (KIP-98); v5 LogStartOffset (KIP-107); v7 sessions (KIP-227, declined);
// v9 CurrentLeaderEpoch fencing (KIP-320); v11 Rack and
// PreferredReadReplica (KIP-392, always -1); v12 flexible (KIP-482),
// LastFetchedEpoch and DivergingEpoch (KIP-595); v13 topic IDs instead of
// names (KIP-516); v15 ReplicaState replaces ReplicaID (KIP-903); v16
// NodeEndpoints (KIP-951, sent only with NOT_LEADER_OR_FOLLOWER, which a
// single node never answers). v4 is Kafka 4's minimum (KIP-896); v16 is
// what franz-go negotiates here, and IBM/sarama asks for v5 to v12.

func init() { register(1, 4, 16, handleFetch) }

// fetchParkedHook, when set, is called each time a fetch starts waiting
// for appends; tests use it to produce only once a fetch is parked.
var fetchParkedHook atomic.Pointer[func(*Broker)]

func handleFetch(b *Broker, _ *clientConn, h requestHeader, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if h.version >= 7 && req.SessionEpoch != 0 && req.SessionEpoch != -1 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	f := b.newFetch(req, resp, h.version)
	defer f.closeSlices()
	f.run(b.ctx)
	return f.response(resp), nil
}

// fetch is one Fetch request being answered, on its connection's goroutine.
type fetch struct {
	b        *Broker
	req      *kmsg.FetchRequest
	follower bool
	parts    []fetchPart // in request order, which MaxBytes follows
}

// fetchPart is one requested partition: out points into the response.
type fetchPart struct {
	req   *kmsg.FetchRequestTopicPartition
	out   *kmsg.FetchResponseTopicPartition
	p     *partition  // nil when unknown: out already holds the error
	slice *rlog.Slice // what the last pass found; nil for none
}

// newFetch resolves the requested topics, by name before v13 and by id
// from v13, and lays out the response in request order.
func (b *Broker) newFetch(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, version int16) *fetch {
	replica := req.ReplicaID
	if version >= 15 {
		replica = req.ReplicaState.ID
	}
	f := &fetch{b: b, req: req, follower: replica >= 0}
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt, st := &req.Topics[i], &resp.Topics[i]
		*st = kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		parts, unknown := b.fetchTopic(rt, st, version)
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp, sp := &rt.Partitions[j], &st.Partitions[j]
			*sp = kmsg.NewFetchResponseTopicPartition()
			// Empty, not null: see response.
			sp.Partition, sp.RecordBatches = rp.Partition, []byte{}
			fp := fetchPart{req: rp, out: sp}
			if rp.Partition >= 0 && int(rp.Partition) < len(parts) {
				fp.p = parts[rp.Partition]
			} else {
				sp.ErrorCode, sp.HighWatermark = unknown.Code, -1
			}
			f.parts = append(f.parts, fp)
		}
	}
	return f
}

// fetchTopic returns a requested topic's partitions and the error for a
// partition it does not have; st learns the name of a topic asked for by id.
func (b *Broker) fetchTopic(rt *kmsg.FetchRequestTopic, st *kmsg.FetchResponseTopic, version int16) ([]*partition, *kerr.Error) {
	if version >= 13 {
		t, ok := b.topics.getByID(rt.TopicID)
		if !ok {
			return nil, kerr.UnknownTopicID
		}
		v := b.topics.view(t)
		st.Topic = v.name
		return v.partitions, kerr.UnknownTopicOrPartition
	}
	t, ok := b.topics.get(rt.Topic)
	if !ok {
		return nil, kerr.UnknownTopicOrPartition
	}
	return b.topics.view(t).partitions, kerr.UnknownTopicOrPartition
}

// run reads every partition, waiting for appends while fewer than MinBytes
// are readable, until MaxWaitMillis passes or ctx ends; the slices of the
// last pass are kept for the response.
func (f *fetch) run(ctx context.Context) {
	maxWait := time.Duration(f.req.MaxWaitMillis) * time.Millisecond
	var timer *time.Timer
	expired := false
	for {
		// Take the wait channels before reading, so that an append
		// after the read is not missed.
		waits := f.waitChannels()
		n, done := f.read()
		if done || expired || maxWait <= 0 || n >= int(f.req.MinBytes) {
			return
		}
		f.closeSlices()
		if timer == nil {
			timer = time.NewTimer(maxWait)
			defer timer.Stop()
		}
		if hook := fetchParkedHook.Load(); hook != nil {
			(*hook)(f.b)
		}
		expired = !waitAny(ctx, timer.C, waits)
	}
}

func (f *fetch) waitChannels() []<-chan struct{} {
	waits := make([]<-chan struct{}, 0, len(f.parts))
	for i := range f.parts {
		if p := f.parts[i].p; p != nil {
			waits = append(waits, p.wait())
		}
	}
	return waits
}

// waitAny waits for one of waits to close; it returns false when the timer
// fires or ctx ends first.
func waitAny(ctx context.Context, timer <-chan time.Time, waits []<-chan struct{}) bool {
	if len(waits) == 1 {
		select {
		case <-waits[0]:
			return true
		case <-timer:
		case <-ctx.Done():
		}
		return false
	}
	cases := make([]reflect.SelectCase, 0, len(waits)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, w := range waits {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 2
}

// read makes one pass over the partitions, keeping a Slice for each, and
// returns the bytes found and whether the fetch must answer now (an error
// on some partition).
func (f *fetch) read() (n int, done bool) {
	remaining := int(f.req.MaxBytes)
	minOne := true
	for i := range f.parts {
		fp := &f.parts[i]
		if fp.p == nil {
			done = true
			continue
		}
		limit := min(int(fp.req.PartitionMaxBytes), max(remaining, 0))
		got, stop := f.readPart(fp, limit, minOne)
		if got > 0 {
			minOne = false
		}
		n += got
		remaining -= got
		done = done || stop
	}
	return n, done
}

// readPart reads one partition within limit bytes; stop reports an error
// (which out now holds) or a diverging epoch, either of which answers the
// fetch at once.
func (f *fetch) readPart(fp *fetchPart, limit int, minOne bool) (n int, stop bool) {
	p, out, rp := fp.p, fp.out, fp.req
	if e := p.checkLeaderEpoch(rp.CurrentLeaderEpoch); e != nil {
		out.ErrorCode = e.Code
		return 0, true
	}
	hw := p.log.HighWatermark()
	maxOffset := hw
	if f.follower {
		maxOffset = p.log.EndOffset()
	}
	out.HighWatermark, out.LastStableOffset = hw, hw
	out.LogStartOffset = p.log.StartOffset()
	if e, diverged := f.checkDivergence(fp); e != nil || diverged {
		if e != nil {
			out.ErrorCode = e.Code
		}
		return 0, true
	}
	s, err := p.log.Read(rp.FetchOffset, rlog.ReadLimit{MaxBytes: limit, MaxOffset: maxOffset, MinOne: minOne})
	if err != nil {
		out.ErrorCode = f.b.fetchReadError(p, err).Code
		return 0, true
	}
	fp.slice = s
	return s.Len(), false
}

// checkDivergence compares LastFetchedEpoch (v12+, -1 when absent) with
// the log's epochs: a fetcher whose last epoch ended before its fetch
// offset, or that this log never had, diverged and is told where its log
// should end (DivergingEpoch), as Kafka's leader does.
func (f *fetch) checkDivergence(fp *fetchPart) (*kerr.Error, bool) {
	last := fp.req.LastFetchedEpoch
	if last < 0 {
		return nil, false
	}
	epoch, end := fp.p.log.EndOffsetForEpoch(last)
	if epoch == rlog.UndefinedEpoch || end == rlog.UndefinedEpochOffset {
		return kerr.OffsetOutOfRange, false
	}
	if epoch < last || end < fp.req.FetchOffset {
		fp.out.DivergingEpoch.Epoch, fp.out.DivergingEpoch.EndOffset = epoch, end
		return nil, true
	}
	return nil, false
}

// fetchReadError maps a log read error to Kafka's code, logging the
// unexpected ones.
func (b *Broker) fetchReadError(p *partition, err error) *kerr.Error {
	switch {
	case errors.Is(err, rlog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange
	case errors.Is(err, rlog.ErrClosed):
		return kerr.NotLeaderForPartition
	}
	b.logger.Error("cluster: fetch read", "topic", p.topic, "partition", p.index, "err", err)
	return kerr.KafkaStorageError
}

// response hands the slices of the last pass to the response, which
// writes them after the rest of the frame (fetch_response.go) and closes
// them. Partitions without records answer an empty record set, not a null
// one, as Kafka does: librdkafka (kcat) refuses a null one ("invalid
// MessageSetSize -1").
func (f *fetch) response(resp *kmsg.FetchResponse) *fetchResponse {
	r := &fetchResponse{FetchResponse: resp, b: f.b}
	for i := range f.parts {
		fp := &f.parts[i]
		if fp.slice == nil || fp.slice.Len() == 0 {
			continue
		}
		r.recs = append(r.recs, fetchRecords{p: fp.p, out: fp.out, slice: fp.slice})
		fp.slice = nil
	}
	return r
}

func (f *fetch) closeSlices() {
	for i := range f.parts {
		if s := f.parts[i].slice; s != nil {
			s.Close()
			f.parts[i].slice = nil
		}
	}
}
