package log

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRealClientRoundTrip appends batches that franz-go's producer encoded
// (every codec) and reads them back: byte-identical but for the offsets
// and leader epoch the log assigns, offsets contiguous, records intact.
func TestRealClientRoundTrip(t *testing.T) {
	srv := newCaptureServer(t)
	codecs := clientCodecs
	l := openTestLog(t, t.TempDir(), WithConfig(smallConfig()))
	defer l.Close()
	var sent [][]byte
	var values [][]byte
	for _, c := range codecs {
		recs := make([]*kgo.Record, 400)
		for i := range recs {
			v := bytes.Repeat(fmt.Appendf(nil, "%s record %d ", c.name, i), 1+i%9)
			recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%13), Value: v,
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(c.name)}}}
			values = append(values, v)
		}
		batches := realClientBatches(t, srv, "topic-"+c.name, c.codec, recs)
		if len(batches) == 0 {
			t.Fatalf("%s: the client sent no batches", c.name)
		}
		for _, b := range batches {
			h, err := ValidateBatch(b)
			if err != nil {
				t.Fatalf("%s: the client's batch does not validate: %v", c.name, err)
			}
			if h.Compression() != c.want {
				t.Fatalf("%s: batch compressed with %s", c.name, h.Compression())
			}
			stored := bytes.Clone(b)
			if _, err := l.Append(stored, 7); err != nil {
				t.Fatalf("%s: append: %v", c.name, err)
			}
			sent = append(sent, b)
		}
	}
	l.SetHighWatermark(l.EndOffset())
	got := readAllBatches(t, l, l.EndOffset())
	if len(got) != len(sent) {
		t.Fatalf("read %d batches, appended %d", len(got), len(sent))
	}
	var next int64
	var gotValues [][]byte
	for i, b := range got {
		h, err := ValidateBatch(b)
		if err != nil {
			t.Fatalf("batch %d read back invalid: %v", i, err)
		}
		if h.BaseOffset != next || h.LeaderEpoch != 7 {
			t.Fatalf("batch %d: base offset %d epoch %d, want %d and 7", i, h.BaseOffset, h.LeaderEpoch, next)
		}
		next = h.NextOffset()
		// Everything after the offset, length and epoch fields is as sent.
		if !bytes.Equal(b[batchOffMagic:], sent[i][batchOffMagic:]) || !bytes.Equal(b[batchOffLength:batchOffLeaderEpoch], sent[i][batchOffLength:batchOffLeaderEpoch]) {
			t.Fatalf("batch %d is not byte-identical to what the client sent", i)
		}
		_, recs, err := DecodeRecords(b)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		for _, r := range recs {
			gotValues = append(gotValues, r.Value)
		}
	}
	if len(gotValues) != len(values) {
		t.Fatalf("read %d records, produced %d", len(gotValues), len(values))
	}
	for i := range values {
		if !bytes.Equal(gotValues[i], values[i]) {
			t.Fatalf("record %d differs", i)
		}
	}
	if next != int64(len(values)) {
		t.Fatalf("log ends at %d, produced %d records", next, len(values))
	}
}
