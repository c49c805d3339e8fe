package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	rlog "github.com/runnel-io/runnel/log"
)

// Fuzz targets for what reads the network: the frame reader, the request
// parser, and the produce path from a partition's records to the log.
// Their seed corpora (below, and testdata/fuzz) run with every go test.
//
//	go test -run '^$' -fuzz '^FuzzParseRequest$' -fuzztime 60s -parallel 1 ./cluster/

// FuzzReadFrame reads consecutive frames from arbitrary bytes, delivered
// in arbitrary pieces, under an arbitrary limit, and checks each result
// against a model of the framing: whole frames come back byte for byte,
// and every refusal is the right one.
func FuzzReadFrame(f *testing.F) {
	for _, frame := range seedFrames(f, false) {
		f.Add(frame, uint32(100<<20), uint8(0))
		f.Add(frame, uint32(len(frame)-4), uint8(1))
		f.Add(frame, uint32(len(frame)-5), uint8(2))
		f.Add(frame[:len(frame)-1], uint32(1<<20), uint8(3))
	}
	two := append(requestFrame(kmsg.NewPtrApiVersionsRequest(), 1), requestFrame(kmsg.NewPtrMetadataRequest(), 2)...)
	f.Add(two, uint32(1<<20), uint8(2))
	for _, n := range []uint32{0, 7, 8, 100 << 20, 100<<20 + 1, 1 << 31, 1<<32 - 1} {
		f.Add(sizePrefix(n), uint32(100<<20), uint8(0))
	}
	f.Add([]byte{0, 0}, uint32(1024), uint8(0))

	f.Fuzz(func(t *testing.T, data []byte, limit uint32, chunking uint8) {
		max := int32(limit % (8 << 20))
		var r io.Reader = bytes.NewReader(data)
		switch chunking % 4 {
		case 1:
			r = iotest.OneByteReader(r)
		case 2:
			r = iotest.HalfReader(r)
		case 3:
			r = iotest.DataErrReader(r)
		}
		var buf []byte
		for pos := 0; ; {
			frame, err := readFrame(r, max, buf)
			rest := data[pos:]
			want, next := frameModel(rest, max)
			if want != nil {
				if !errors.Is(err, want) {
					t.Fatalf("at %d of %d: %v, want %v", pos, len(data), err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("at %d of %d: %v, want a frame of %d bytes", pos, len(data), err, next-4)
			}
			if !bytes.Equal(frame, rest[4:next]) {
				t.Fatalf("at %d: frame of %d bytes differs from the %d sent", pos, len(frame), next-4)
			}
			if buf == nil && cap(frame) > 4*len(frame)+2*frameChunkBytes {
				t.Fatalf("a %d-byte frame holds a %d-byte buffer", len(frame), cap(frame))
			}
			pos += next
			if pos%2 == 0 {
				buf = frame // reuse, as a connection may
			} else {
				buf = nil
			}
		}
	})
}

// frameModel says what reading one frame from rest must give: an error, or
// none and the length of the frame with its size prefix.
func frameModel(rest []byte, max int32) (error, int) {
	switch {
	case len(rest) == 0:
		return io.EOF, 0
	case len(rest) < 4:
		return io.ErrUnexpectedEOF, 0
	}
	n := int32(binary.BigEndian.Uint32(rest))
	switch {
	case n < 0 || n > max:
		return ErrFrameTooLarge, 0
	case n < 8:
		return ErrFrameMalformed, 0
	case int(n) > len(rest)-4:
		return io.ErrUnexpectedEOF, 0
	}
	return nil, 4 + int(n)
}

// FuzzParseRequest parses arbitrary frames. Nothing panics; every refusal
// is ErrFrameMalformed or errUnsupportedVersion; and a request that parses
// is one the broker serves, and re-encoded by kmsg parses back to the same
// header and the same body.
func FuzzParseRequest(f *testing.F) {
	for _, frame := range seedFrames(f, true) {
		f.Add(frame[4:])
	}
	for _, frame := range seedFrames(f, false) {
		body := frame[4:]
		for _, cut := range []int{len(body) - 1, len(body) / 2, 11} {
			if cut >= 0 && cut < len(body) {
				f.Add(body[:cut])
			}
		}
		for _, i := range []int{1, 3, 9, len(body) / 2, len(body) - 1} {
			if i >= 0 && i < len(body) {
				f.Add(flipBit(body, i))
			}
		}
	}

	f.Fuzz(func(t *testing.T, frame []byte) {
		defer watchdog(frame)()
		h, req, err := parseRequest(frame)
		if err != nil {
			if !errors.Is(err, ErrFrameMalformed) && !errors.Is(err, errUnsupportedVersion) {
				t.Fatalf("unclassified refusal: %v", err)
			}
			return
		}
		api, ok := apis[h.key]
		if !ok || h.version < api.min || h.version > api.max {
			t.Fatalf("parsed %s v%d, which the broker does not serve", kmsg.NameForKey(h.key), h.version)
		}
		if req.Key() != h.key || req.GetVersion() != h.version {
			t.Fatalf("header says key %d v%d, request is key %d v%d", h.key, h.version, req.Key(), req.GetVersion())
		}
		again := kmsg.NewRequestFormatter(kmsg.FormatterClientID(h.clientID)).AppendRequest(nil, req, h.correlationID)
		h2, req2, err := parseRequest(again[4:])
		if err != nil {
			t.Fatalf("re-encoded %s v%d does not parse: %v", kmsg.NameForKey(h.key), h.version, err)
		}
		if h2 != h {
			t.Fatalf("header %+v re-parses as %+v", h, h2)
		}
		if a, b := req.AppendTo(nil), req2.AppendTo(nil); !bytes.Equal(a, b) {
			t.Fatalf("%s v%d body re-parses differently:\n%x\n%x", kmsg.NameForKey(h.key), h.version, a, b)
		}
	})
}

// FuzzProduce hands arbitrary bytes to the produce path as one
// partition's records, on a real broker's partitions: one with CreateTime
// and one with LogAppendTime. Nothing panics; an accepted batch is stored
// at the log end, byte for byte, and reads back valid and decodable (or
// is an idempotent retry answered with its first offset); a refused one
// leaves the log as it was. fixHeader rewrites the batch length and CRC
// so that mutations reach the records.
func FuzzProduce(f *testing.F) {
	tb := startBroker(f, "", nil)
	parts := []*partition{
		createTopic(f, tb, "fuzz", 1, nil)[0],
		createTopic(f, tb, "fuzz-lat", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})[0],
	}
	for _, b := range seedBatches(f) {
		f.Add(b, false, false)
		f.Add(b, false, true)
		f.Add(b[:len(b)-1], true, false)
		f.Add(flipBit(b, len(b)-1), true, false)
		f.Add(flipBit(b, len(b)/2), false, false)
		f.Add(append(bytes.Clone(b), b...), false, false)
	}
	// The idempotent batch again: a retry, answered with its first offset.
	idem := seedBatches(f)[rlog.CompressionZstd+1]
	f.Add(idem, false, false)

	f.Fuzz(func(t *testing.T, records []byte, fixHeader, logAppendTime bool) {
		defer watchdog(records)()
		records = bytes.Clone(records)
		if fixHeader && len(records) >= rlog.BatchHeaderSize {
			binary.BigEndian.PutUint32(records[8:], uint32(len(records)-12))
			fixCRC(records)
		}
		p := parts[0]
		if logAppendTime {
			p = parts[1]
		}
		before := logEndsOf(p)
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = records
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		res := tb.producePartition(req, p.topic, &rp, time.Now())
		after := logEndsOf(p)
		if res.err != nil {
			if after != before {
				t.Fatalf("refused (%v: %s), yet the log went from %v to %v", res.err, res.msg, before, after)
			}
			return
		}
		h, err := rlog.ParseBatchHeader(records)
		if err != nil {
			t.Fatalf("accepted records with no batch header: %v", err)
		}
		if after == before { // an idempotent retry
			if h.ProducerID < 0 || res.baseOffset < before.start || res.baseOffset >= before.end {
				t.Fatalf("accepted, log unchanged, offset %d of [%d, %d), producer %d", res.baseOffset, before.start, before.end, h.ProducerID)
			}
			orig, err := p.log.ReadBatches(res.baseOffset, 1, before.end)
			if err != nil {
				t.Fatalf("read the original of a retry at %d: %v", res.baseOffset, err)
			}
			oh, err := rlog.ParseBatchHeader(orig)
			if err != nil || oh.BaseOffset != res.baseOffset || oh.ProducerID != h.ProducerID || oh.BaseSequence != h.BaseSequence {
				t.Fatalf("retry of producer %d seq %d answered with offset %d, which holds producer %d seq %d at %d (%v)",
					h.ProducerID, h.BaseSequence, res.baseOffset, oh.ProducerID, oh.BaseSequence, oh.BaseOffset, err)
			}
			return
		}
		want := logEnds{start: before.start, end: before.end + int64(h.LastOffsetDelta) + 1, size: before.size + int64(len(records))}
		want.hw = want.end
		if res.baseOffset != before.end || after != want {
			t.Fatalf("accepted at %d: log went from %v to %v, want %v", res.baseOffset, before, after, want)
		}
		stored, err := p.log.ReadBatches(res.baseOffset, len(records), after.end)
		if err != nil {
			t.Fatalf("read back at %d: %v", res.baseOffset, err)
		}
		if !bytes.Equal(stored, records) {
			t.Fatalf("stored batch differs from the one accepted:\n%x\n%x", stored, records)
		}
		sh, recs, err := rlog.DecodeRecords(stored)
		if _, verr := rlog.ValidateBatch(stored); verr != nil || err != nil {
			t.Fatalf("accepted batch reads back invalid: %v; %v", verr, err)
		}
		if len(recs) != int(sh.RecordCount) || sh.BaseOffset != res.baseOffset {
			t.Fatalf("read back %d records at %d, header says %d at %d", len(recs), res.baseOffset, sh.RecordCount, sh.BaseOffset)
		}
		if logAppendTime && (!sh.LogAppendTime() || sh.MaxTimestamp != res.logAppendTime) {
			t.Fatalf("LogAppendTime topic stored max timestamp %d (log append time %v), answered %d", sh.MaxTimestamp, sh.LogAppendTime(), res.logAppendTime)
		}
	})
}

// logEnds is a partition log's offsets and size: cheap enough per exec.
type logEnds struct{ start, end, hw, size int64 }

func logEndsOf(p *partition) logEnds {
	return logEnds{p.log.StartOffset(), p.log.EndOffset(), p.log.HighWatermark(), p.log.Size()}
}

func (s logEnds) String() string {
	return fmt.Sprintf("[%d, %d) hw %d, %d bytes", s.start, s.end, s.hw, s.size)
}

// seedFrames returns valid request frames of every API kmsg knows: for
// those the broker serves, at their lowest and highest versions (every
// version with allVersions), with some content; the others at their
// highest version (refused until registered).
func seedFrames(t testing.TB, allVersions bool) [][]byte {
	var out [][]byte
	corr := int32(1)
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		lo, hi := req.MaxVersion(), req.MaxVersion()
		if api, ok := apis[key]; ok {
			lo, hi = api.min, api.max
		}
		for v := lo; v <= hi; v++ {
			if !allVersions && v != lo && v != hi {
				continue
			}
			req := kmsg.RequestForKey(key)
			fillSeedRequest(t, req)
			req.SetVersion(v)
			out = append(out, requestFrame(req, corr))
			corr++
		}
	}
	return out
}

func fillSeedRequest(t testing.TB, req kmsg.Request) {
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		*r = *produceRequest("fuzz", 0, testBatch(t, []byte("one"), []byte("two")))
		r.Topics[0].Partitions = append(r.Topics[0].Partitions, kmsg.ProduceRequestTopicPartition{Partition: 1, Records: testBatch(t, nil)})
	case *kmsg.MetadataRequest:
		for _, name := range []string{"fuzz", "other"} {
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr(name)
			r.Topics = append(r.Topics, mt)
		}
		r.AllowAutoTopicCreation = true
	case *kmsg.ApiVersionsRequest:
		r.ClientSoftwareName, r.ClientSoftwareVersion = "runnel-fuzz", "1.0"
	}
}

// seedBatches returns valid batches: several codecs, an idempotent
// producer's, a control batch, and one with gaps between offsets.
func seedBatches(t testing.TB) [][]byte {
	now := time.Now().UnixMilli()
	plain := rlog.BatchHeader{LeaderEpoch: -1, BaseTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	idem := plain
	idem.ProducerID, idem.ProducerEpoch, idem.BaseSequence = 7, 0, 0
	recs := []rlog.Record{
		{Key: []byte("k"), Value: []byte("v")},
		{OffsetDelta: 1, Value: bytes.Repeat([]byte("runnel "), 20), Headers: []rlog.RecordHeader{{Key: "h", Value: []byte("x")}}},
		{OffsetDelta: 2, TimestampDelta: 5},
	}
	var out [][]byte
	add := func(h rlog.BatchHeader, recs []rlog.Record, c rlog.Compression) {
		b, err := rlog.AppendBatch(nil, h, recs, c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for c := rlog.CompressionNone; c <= rlog.CompressionZstd; c++ {
		add(plain, recs, c)
	}
	add(idem, recs[:1], rlog.CompressionNone)
	add(plain, []rlog.Record{{OffsetDelta: 0}, {OffsetDelta: 9}}, rlog.CompressionNone)
	ctl := plain
	ctl.Attributes = 0x30 // transactional control batch: refused
	add(ctl, recs[:1], rlog.CompressionNone)
	return out
}

// watchdog crashes the process if one input takes over 10 s (they take
// microseconds), so that the fuzzer reports and keeps it: a hang is a
// finding. Call the returned function when the input is done.
func watchdog(input []byte) func() {
	start := time.Now()
	t := time.AfterFunc(10*time.Second, func() {
		panic(fmt.Sprintf("cluster: one fuzz input ran for %v: %x", time.Since(start), input))
	})
	return func() { t.Stop() }
}
