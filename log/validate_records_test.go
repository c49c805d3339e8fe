package log

import (
	"bytes"
	"testing"
)

// FuzzRecordsWellFormed checks CheckRecords' fast path against the
// decoder it stands for: recordsWellFormed accepts exactly what
// walkRecords accepts, for any records section, record count and last
// offset delta.
func FuzzRecordsWellFormed(f *testing.F) {
	for _, records := range [][]Record{recordSet("headers"), recordSet("offset gaps"), manyRecords(5, 40), manyRecords(3, 300)} {
		raw := appendRecords(nil, records)
		n, last := int32(len(records)), records[len(records)-1].OffsetDelta
		f.Add(raw, n, last)
		f.Add(raw, n+1, last)
		f.Add(raw, n, last-1)
		f.Add(raw[:len(raw)-1], n, last)
		f.Add(append(bytes.Clone(raw), 0), n, last)
		for _, at := range []int{0, 1, 2, 3, 5, len(raw) / 2} {
			for _, v := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff} {
				mutated := bytes.Clone(raw)
				mutated[at] = v
				f.Add(mutated, n, last)
			}
		}
	}
	f.Add([]byte{}, int32(0), int32(0))
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, int32(0), int32(0))

	f.Fuzz(func(t *testing.T, raw []byte, count, lastOffsetDelta int32) {
		fast := recordsWellFormed(raw, count, lastOffsetDelta)
		err := walkRecords(raw, count, lastOffsetDelta, nil)
		if fast != (err == nil) {
			t.Fatalf("recordsWellFormed says %v, walkRecords says %v", fast, err)
		}
	})
}

// TestRecordsWellFormedEdges pins the cases where the fast path could most
// easily differ from decodeRecord: varints at their size limits, a null
// header key, an empty key, and header counts at the bound.
func TestRecordsWellFormedEdges(t *testing.T) {
	rec := func(body ...byte) []byte { return append([]byte{byte(len(body) << 1)}, body...) }
	cases := []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{"minimal", rec(0, 0, 0, 1, 1, 0), true},
		{"empty key and value", rec(0, 0, 0, 0, 0, 0), true},
		{"null key, one-byte value", rec(0, 0, 0, 1, 2, 'v', 0), true},
		{"header with empty key, null value", rec(0, 0, 0, 1, 1, 2, 0, 1), true},
		{"header with null key", rec(0, 0, 0, 1, 1, 2, 1, 1), false},
		{"header count over the bound", rec(0, 0, 0, 1, 1, 4, 0, 1), false},
		{"negative header count", rec(0, 0, 0, 1, 1, 1), false},
		{"key length -2", rec(0, 0, 0, 3, 1, 0), false},
		{"offset delta as 5-byte varint", rec(0, 0, 0x80, 0x80, 0x80, 0x80, 0x00, 1, 1, 0), true},
		{"offset delta as 6-byte varint", rec(0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 1, 1, 0), false},
		{"offset delta over int32", rec(0, 0, 0xfe, 0xff, 0xff, 0xff, 0x0f, 1, 1, 0), false},
		{"timestamp delta as 10-byte varint", rec(0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 1, 1, 0), true},
		{"timestamp delta overflowing 64 bits", rec(0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02, 0, 1, 1, 0), false},
		{"a byte after the fields", rec(0, 0, 0, 1, 1, 0, 0), false},
		{"no attributes", rec(), false},
	}
	for _, c := range cases {
		fast := recordsWellFormed(c.raw, 1, 0)
		err := walkRecords(c.raw, 1, 0, nil)
		if fast != c.ok || (err == nil) != c.ok {
			t.Errorf("%s: recordsWellFormed %v, walkRecords %v; want ok=%v", c.name, fast, err, c.ok)
		}
	}
}

// BenchmarkCheckRecords is the broker's per-batch record check on a batch
// as brokerbench produces it: 5,000 records of 100-byte values, null keys.
func BenchmarkCheckRecords(b *testing.B) {
	records := make([]Record, 5000)
	for i := range records {
		records[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i / 100), Value: make([]byte, 100)}
	}
	batch, err := AppendBatch(nil, batchTemplate, records, CompressionNone)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		if err := CheckRecords(batch); err != nil {
			b.Fatal(err)
		}
	}
}
