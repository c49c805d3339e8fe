package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
)

var allCompressions = []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd}

func TestCompressionString(t *testing.T) {
	want := []string{"none", "gzip", "snappy", "lz4", "zstd"}
	for i, c := range allCompressions {
		if got := c.String(); got != want[i] {
			t.Errorf("Compression(%d).String() = %q, want %q", c, got, want[i])
		}
	}
	if got := Compression(7).String(); got != "compression(7)" {
		t.Errorf("Compression(7).String() = %q", got)
	}
}

// batchTemplate is a header template with every field AppendBatch copies set
// to something recognisable.
var batchTemplate = BatchHeader{
	BaseOffset:    1000,
	LeaderEpoch:   7,
	Attributes:    attrTransactional | attrTimestampType,
	BaseTimestamp: 1_700_000_000_000,
	MaxTimestamp:  1_700_000_000_500,
	ProducerID:    42,
	ProducerEpoch: 3,
	BaseSequence:  99,
}

// recordSets are the records the round-trip tests encode with every codec.
var recordSets = []struct {
	name    string
	records []Record
}{
	{"one", []Record{{Key: []byte("k"), Value: []byte("v")}}},
	{"null key", []Record{{Value: []byte("v")}}},
	{"tombstone", []Record{{Key: []byte("k")}}},
	{"null key and value", []Record{{}}},
	{"empty key and value", []Record{{Key: []byte{}, Value: []byte{}}}},
	{"headers", []Record{{
		Key:   []byte("k"),
		Value: []byte("v"),
		Headers: []RecordHeader{
			{Key: "trace", Value: []byte("abc")},
			{Key: "null", Value: nil},
			{Key: "empty", Value: []byte{}},
			{Key: "", Value: []byte("empty key")},
		},
	}}},
	{"offset gaps", []Record{
		{OffsetDelta: 0, Key: []byte("a"), Value: []byte("1")},
		{OffsetDelta: 3, Key: []byte("b")},
		{OffsetDelta: 4, Key: []byte("c"), Value: []byte("3")},
		{OffsetDelta: 1 << 20, Key: []byte("d"), Value: []byte("4")},
	}},
	{"first delta not zero", []Record{{OffsetDelta: 5, Key: []byte("k"), Value: []byte("v")}}},
	{"timestamp deltas", []Record{
		{OffsetDelta: 0, TimestampDelta: -5},
		{OffsetDelta: 1, TimestampDelta: 1 << 40},
		{OffsetDelta: 2, TimestampDelta: -1 << 62},
	}},
	{"many", manyRecords(500, 100)},
	{"large compressible", manyRecords(4, 200<<10)}, // several lz4 blocks and xerial-sized chunks
}

// manyRecords returns n records with compressible values of about size
// bytes, a mix of null keys, tombstones and headers.
func manyRecords(n, size int) []Record {
	records := make([]Record, n)
	for i := range records {
		r := &records[i]
		r.OffsetDelta = int32(i)
		r.TimestampDelta = int64(i * 10)
		if i%7 != 3 {
			r.Key = fmt.Appendf(nil, "key-%d", i)
		}
		if i%5 != 4 {
			r.Value = bytes.Repeat(fmt.Appendf(nil, "value %d ", i), size/6+1)[:size]
		}
		if i%3 == 0 {
			r.Headers = []RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}}
		}
	}
	return records
}

func TestRecordsRoundTrip(t *testing.T) {
	for _, set := range recordSets {
		for _, c := range allCompressions {
			t.Run(set.name+"/"+c.String(), func(t *testing.T) {
				prefix := []byte("existing bytes")
				b, err := AppendBatch(bytes.Clone(prefix), batchTemplate, set.records, c)
				if err != nil {
					t.Fatalf("AppendBatch: %v", err)
				}
				if !bytes.HasPrefix(b, prefix) {
					t.Fatalf("AppendBatch overwrote dst")
				}
				b = b[len(prefix):]
				vh, err := ValidateBatch(b)
				if err != nil {
					t.Fatalf("ValidateBatch: %v", err)
				}
				checkAppendedHeader(t, vh, batchTemplate, set.records, c)
				dh, got, err := DecodeRecords(b)
				if err != nil {
					t.Fatalf("DecodeRecords: %v", err)
				}
				if dh != vh {
					t.Errorf("DecodeRecords header %+v, ValidateBatch header %+v", dh, vh)
				}
				checkRecords(t, got, set.records)
			})
		}
	}
}

// checkAppendedHeader checks that h is template with the fields AppendBatch
// computes filled in for records and c.
func checkAppendedHeader(t *testing.T, h, template BatchHeader, records []Record, c Compression) {
	t.Helper()
	want := template
	want.Length, want.CRC = h.Length, h.CRC // checked by ValidateBatch
	want.Magic = 2
	want.Attributes = template.Attributes&^attrCompressionMask | int16(c)
	want.LastOffsetDelta = records[len(records)-1].OffsetDelta
	want.RecordCount = int32(len(records))
	if h != want {
		t.Errorf("header\n got %+v\nwant %+v", h, want)
	}
	if h.Compression() != c {
		t.Errorf("compression %s, want %s", h.Compression(), c)
	}
}

// checkRecords compares records field by field, nil and empty distinct.
func checkRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("record %d:\n got %s\nwant %s", i, fmtRecord(got[i]), fmtRecord(want[i]))
		}
	}
}

func fmtRecord(r Record) string {
	q := func(b []byte) string {
		if b == nil {
			return "null"
		}
		if len(b) > 20 {
			return fmt.Sprintf("%q...(%d bytes)", b[:20], len(b))
		}
		return fmt.Sprintf("%q", b)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "{delta %d ts %d key %s value %s headers [", r.OffsetDelta, r.TimestampDelta, q(r.Key), q(r.Value))
	for _, h := range r.Headers {
		fmt.Fprintf(&sb, " %q=%s", h.Key, q(h.Value))
	}
	if r.Headers == nil {
		sb.WriteString("nil")
	}
	sb.WriteString("]}")
	return sb.String()
}

func TestRecordsAppendBatchErrors(t *testing.T) {
	one := []Record{{Value: []byte("v")}}
	big := make([]byte, recordsBytesMax)
	tests := []struct {
		name    string
		records []Record
		c       Compression
		want    error
	}{
		{"no records", nil, CompressionNone, ErrEmptyBatch},
		{"unknown codec", one, 5, ErrInvalidRecords},
		{"negative codec", one, -1, ErrInvalidRecords},
		{"negative delta", []Record{{OffsetDelta: -1}}, CompressionNone, ErrInvalidRecords},
		{"repeated delta", []Record{{OffsetDelta: 1}, {OffsetDelta: 1}}, CompressionNone, ErrInvalidRecords},
		{"decreasing delta", []Record{{OffsetDelta: 2}, {OffsetDelta: 1}}, CompressionGzip, ErrInvalidRecords},
		{"too large", []Record{{Value: big}}, CompressionNone, ErrBatchTooLarge},
		{"too large in total", []Record{
			{OffsetDelta: 0, Value: big[:recordsBytesMax/2]},
			{OffsetDelta: 1, Value: big[:recordsBytesMax/2]},
		}, CompressionZstd, ErrBatchTooLarge},
		{"too large in headers", []Record{{Headers: []RecordHeader{{Value: big}}}}, CompressionNone, ErrBatchTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("prefix")
			got, err := AppendBatch(dst, batchTemplate, tt.records, tt.c)
			if !errors.Is(err, tt.want) {
				t.Fatalf("AppendBatch error %v, want %v", err, tt.want)
			}
			if string(got) != "prefix" {
				t.Errorf("dst changed to %q", got)
			}
		})
	}
}

func TestCompressRoundTrip(t *testing.T) {
	inputs := map[string][]byte{
		"empty":        {},
		"short":        []byte("hello"),
		"compressible": bytes.Repeat([]byte("abcdefgh"), 100_000),
		"random":       pseudoRandom(300_000),
	}
	for name, src := range inputs {
		for _, c := range allCompressions {
			t.Run(name+"/"+c.String(), func(t *testing.T) {
				packed, err := compress(c, []byte("dst"), src)
				if err != nil {
					t.Fatalf("compress: %v", err)
				}
				if !bytes.HasPrefix(packed, []byte("dst")) {
					t.Fatalf("compress overwrote dst")
				}
				got, err := decompress(c, packed[3:], len(src))
				if err != nil {
					t.Fatalf("decompress: %v", err)
				}
				if !bytes.Equal(got, src) {
					t.Fatalf("decompress returned %d bytes, not the %d compressed", len(got), len(src))
				}
			})
		}
	}
}

func pseudoRandom(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// s2Repeat is a block using an s2 extension the Java client cannot read: a
// copy with offset 0, "repeat the last offset". It is "ab", a copy of 4 at
// offset 2, and a repeat of 4: "ababababab" under s2, corrupt under snappy.
var s2Repeat = []byte{10, 1 << 2, 'a', 'b', 0x01, 2, 0x01, 0}

// xerialFrame frames src as the Java client's SnappyOutputStream does:
// the header, then chunks of at most chunk bytes, each a big-endian length
// and a raw snappy block.
func xerialFrame(src []byte, chunk int) []byte {
	out := append([]byte("\x82SNAPPY\x00"), 0, 0, 0, 1, 0, 0, 0, 1)
	for len(src) > 0 {
		n := min(chunk, len(src))
		block := s2.EncodeSnappy(nil, src[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		src = src[n:]
	}
	return out
}

func TestCompressSnappyXerial(t *testing.T) {
	src := bytes.Repeat([]byte("xerial snappy framing "), 10_000)
	framed := xerialFrame(src, 32<<10)
	got, err := decompress(CompressionSnappy, framed, len(src))
	if err != nil {
		t.Fatalf("decompress: %v", err)
	}
	if !bytes.Equal(got, src) {
		t.Fatalf("decompress returned %d bytes, not the %d framed", len(got), len(src))
	}
	if _, err := decompress(CompressionSnappy, framed, len(src)-1); !errors.Is(err, ErrInvalidRecords) {
		t.Errorf("decompress over the limit: %v, want ErrInvalidRecords", err)
	}
	if got, err := decompress(CompressionSnappy, xerialFrame(nil, 1), 0); err != nil || len(got) != 0 {
		t.Errorf("decompress of a header alone: %d bytes, %v", len(got), err)
	}
	header := xerialFrame(nil, 1)
	block := s2.EncodeSnappy(nil, []byte("a snappy block"))
	chunk := func(size int, block []byte) []byte {
		return append(binary.BigEndian.AppendUint32(bytes.Clone(header), uint32(size)), block...)
	}
	malformed := map[string][]byte{
		"truncated chunk length": append(bytes.Clone(header), 0, 0),
		"chunk beyond data":      chunk(len(block)+1, block),
		"huge chunk":             chunk(-1, block),
		"bad block length":       chunk(6, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		"corrupt block":          chunk(len(block), append([]byte{byte(len(block) * 2)}, block[1:]...)),
		"s2 extension":           chunk(len(s2Repeat), s2Repeat),
		"raw s2 extension":       s2Repeat,
		"raw bad block length":   {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
	for name, in := range malformed {
		if got, err := decompress(CompressionSnappy, in, 1<<20); !errors.Is(err, ErrInvalidRecords) {
			t.Errorf("decompress of %s: %q, %v, want ErrInvalidRecords", name, got, err)
		}
	}

	// A whole batch whose records are xerial framed, as the Java client
	// sends them.
	records := manyRecords(50, 1000)
	raw := appendRecords(nil, records)
	b := make([]byte, BatchHeaderSize)
	b = append(b, xerialFrame(raw, 32<<10)...)
	h := batchTemplate
	h.Length = int32(len(b) - batchLengthOverhead)
	h.Magic = 2
	h.Attributes |= int16(CompressionSnappy)
	h.LastOffsetDelta = records[len(records)-1].OffsetDelta
	h.RecordCount = int32(len(records))
	putBatchHeader(b, &h)
	if _, err := ValidateBatch(b); err != nil {
		t.Fatalf("ValidateBatch: %v", err)
	}
	_, got2, err := DecodeRecords(b)
	if err != nil {
		t.Fatalf("DecodeRecords: %v", err)
	}
	checkRecords(t, got2, records)
}

func TestCompressDecompressLimit(t *testing.T) {
	src := make([]byte, 1<<20) // zeros: a small bomb
	for _, c := range allCompressions {
		t.Run(c.String(), func(t *testing.T) {
			packed, err := compress(c, nil, src)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decompress(c, packed, len(src)); err != nil {
				t.Errorf("decompress at the limit: %v", err)
			}
			_, err = decompress(c, packed, len(src)-1)
			if !errors.Is(err, ErrInvalidRecords) || !errors.Is(err, errDecompressedTooLarge) {
				t.Errorf("decompress over the limit: %v, want ErrInvalidRecords", err)
			}
		})
	}
}

// TestCompressZstdLimitNoContentSize checks the zstd limit on frames that do
// not declare their size, which only the output check catches.
func TestCompressZstdLimitNoContentSize(t *testing.T) {
	src := bytes.Repeat([]byte("z"), 100_000)
	var framed bytes.Buffer
	enc, err := zstd.NewWriter(&framed, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	// Flushing before the end makes the encoder write the frame header
	// before it knows the size.
	if _, err := enc.Write(src[:1000]); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(src[1000:]); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(framed.Bytes()); err != nil || h.HasFCS {
		t.Fatalf("stream frame header: %+v, %v; want no content size", h, err)
	}
	if _, err := decompress(CompressionZstd, framed.Bytes(), len(src)); err != nil {
		t.Errorf("decompress at the limit: %v", err)
	}
	if _, err := decompress(CompressionZstd, framed.Bytes(), len(src)-1); !errors.Is(err, ErrInvalidRecords) {
		t.Errorf("decompress over the limit: %v, want ErrInvalidRecords", err)
	}
}

func TestCompressCorruptInput(t *testing.T) {
	src := bytes.Repeat([]byte("some records, some records "), 2000)
	for _, c := range allCompressions[1:] {
		packed, err := compress(c, nil, src)
		if err != nil {
			t.Fatal(err)
		}
		flipped := bytes.Clone(packed)
		flipped[len(flipped)/2] ^= 0x40
		cases := map[string][]byte{
			"empty":            {},
			"garbage":          []byte("this is not compressed at all, not in any codec"),
			"truncated":        packed[:len(packed)-1],
			"half":             packed[:len(packed)/2],
			"trailing garbage": append(bytes.Clone(packed), "garbage"...),
		}
		if c != CompressionSnappy { // a raw snappy block has no checksum
			cases["bit flip"] = flipped
		}
		for name, in := range cases {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				got, err := decompress(c, in, 1<<20)
				if !errors.Is(err, ErrInvalidRecords) {
					t.Fatalf("decompress: %d bytes, error %v, want ErrInvalidRecords", len(got), err)
				}
				if !strings.HasPrefix(err.Error(), "log: decompress "+c.String()+": ") {
					t.Errorf("error %q lacks its context", err)
				}
			})
		}
	}
}

// handBatch builds a batch around a hand-written records section, with a
// correct length and CRC so that only the records are wrong.
func handBatch(count, lastOffsetDelta int32, c Compression, records []byte) []byte {
	b := append(make([]byte, BatchHeaderSize), records...)
	h := BatchHeader{
		Length:          int32(len(b) - batchLengthOverhead),
		Magic:           2,
		Attributes:      int16(c),
		LastOffsetDelta: lastOffsetDelta,
		RecordCount:     count,
	}
	putBatchHeader(b, &h)
	return b
}

// wireRaw is written as is by wireBytes; ints are written as zigzag varints.
type wireRaw []byte

func wireBytes(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case int:
			b = binary.AppendVarint(b, int64(p))
		case wireRaw:
			b = append(b, p...)
		case string:
			b = append(b, p...)
		default:
			panic(fmt.Sprintf("wireBytes: %T", p))
		}
	}
	return b
}

// rec is one record: its length, then its body.
func wireRecord(body ...any) wireRaw {
	bb := wireBytes(body...)
	return wireRaw(wireBytes(len(bb), wireRaw(bb)))
}

func TestDecodeRecordsMalformed(t *testing.T) {
	attrs := wireRaw{0}
	good := wireRecord(attrs, 0, 0, 1, "k", 1, "v", 0) // key "k", value "v", no headers
	tests := []struct {
		name    string
		count   int32
		last    int32
		records []byte
	}{
		{"no records", 1, 0, nil},
		{"count beyond records", 2, 1, wireBytes(wireRecord(attrs, 0, 0, -1, 20, strings.Repeat("v", 20), 0))},
		{"trailing record", 1, 1, wireBytes(good, wireRecord(attrs, 0, 1, -1, -1, 0))},
		{"trailing garbage", 1, 0, wireBytes(good, wireRaw{0})},
		{"negative count", -1, 0, wireBytes(good)},
		{"length varint too long", 1, 0, wireBytes(wireRaw{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, good)},
		{"length varint unterminated", 1, 0, wireBytes(wireRaw(bytes.Repeat([]byte{0x80}, 9)))},
		{"length beyond data", 1, 0, wireBytes(20, attrs, 0, 0, -1, -1, 0)},
		{"negative length", 1, 0, wireBytes(-2, attrs, 0, 0, -1, -1, 0, wireRaw{0, 0})},
		{"length past fields", 1, 0, wireBytes(7, attrs, 0, 0, -1, -1, 0, wireRaw{0})},
		{"length short of fields", 1, 0, wireBytes(5, attrs, 0, 0, -1, -1, 0)},
		{"no attributes", 1, 0, wireBytes(0, wireRaw{0, 0, 0, 0, 0, 0})},
		{"timestamp varint too long", 1, 0, wireBytes(wireRecord(attrs, wireRaw(bytes.Repeat([]byte{0xff}, 10)), wireRaw{1}, 0, -1, -1, 0))},
		{"offset delta beyond int32", 1, 0, wireBytes(wireRecord(attrs, 0, wireRaw{0xff, 0xff, 0xff, 0xff, 0x7f}, -1, -1, 0))},
		{"key length below -1", 1, 0, wireBytes(wireRecord(attrs, 0, 0, -2, -1, 0))},
		{"key beyond record", 1, 0, wireBytes(wireRecord(attrs, 0, 0, 10, "k"), wireRaw{0, 0})},
		{"value length below -1", 1, 0, wireBytes(wireRecord(attrs, 0, 0, -1, -5, 0))},
		{"value beyond record", 1, 0, wireBytes(wireRecord(attrs, 0, 0, -1, 3, "v", 0))},
		{"missing header count", 1, 0, wireBytes(wireRecord(attrs, 0, 0, -1, -1), wireRaw{0})},
		{"negative header count", 1, 0, wireBytes(wireRecord(attrs, 0, 0, -1, -1, -1))},
		{"header count beyond record", 1, 0, wireBytes(wireRecord(attrs, 0, 0, -1, -1, 1000, 0, 0))},
		{"null header key", 1, 0, wireBytes(wireRecord(attrs, 0, 0, -1, -1, 1, -1, 1, "v"))},
		{"header value beyond record", 1, 0, wireBytes(wireRecord(attrs, 0, 0, -1, -1, 1, 1, "h", 9, "v"))},
		{"header value length below -1", 1, 0, wireBytes(wireRecord(attrs, 0, 0, -1, -1, 1, 1, "h", -3))},
		{"negative offset delta", 1, 0, wireBytes(wireRecord(attrs, 0, -1, -1, -1, 0))},
		{"repeated offset delta", 2, 1, wireBytes(good, good)},
		{"decreasing offset delta", 2, 1, wireBytes(wireRecord(attrs, 0, 1, -1, -1, 0), good)},
		{"offset delta past last", 1, 0, wireBytes(wireRecord(attrs, 0, 1, -1, -1, 0))},
		{"records of an empty batch", 0, 0, wireBytes(good)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := handBatch(tt.count, tt.last, CompressionNone, tt.records)
			_, got, err := DecodeRecords(b)
			if !errors.Is(err, ErrInvalidRecords) {
				t.Fatalf("DecodeRecords: %d records, error %v, want ErrInvalidRecords", len(got), err)
			}
			if got != nil {
				t.Errorf("DecodeRecords returned %d records with its error", len(got))
			}
		})
	}

	// The wireBytes helper is right: the good record decodes.
	_, got, err := DecodeRecords(handBatch(1, 0, CompressionNone, wireBytes(good)))
	if err != nil {
		t.Fatalf("DecodeRecords of the good record: %v", err)
	}
	checkRecords(t, got, []Record{{Key: []byte("k"), Value: []byte("v")}})
}

func TestDecodeRecordsAttributesIgnored(t *testing.T) {
	// Kafka ignores record attributes; so do we.
	b := handBatch(1, 0, CompressionNone, wireBytes(wireRecord(wireRaw{0x7f}, 0, 0, -1, 1, "v", 0)))
	_, got, err := DecodeRecords(b)
	if err != nil {
		t.Fatalf("DecodeRecords: %v", err)
	}
	checkRecords(t, got, []Record{{Value: []byte("v")}})
}

func TestDecodeRecordsEmptyControlBatch(t *testing.T) {
	b := handBatch(0, 0, CompressionNone, nil)
	_, got, err := DecodeRecords(b)
	if err != nil || len(got) != 0 {
		t.Fatalf("DecodeRecords: %d records, %v", len(got), err)
	}
}

func TestDecodeRecordsBadBatch(t *testing.T) {
	b, err := AppendBatch(nil, batchTemplate, recordSets[0].records, CompressionNone)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecodeRecords(b[:len(b)-1]); !errors.Is(err, ErrCorruptBatch) {
		t.Errorf("DecodeRecords of a short batch: %v, want ErrCorruptBatch", err)
	}
	if _, _, err := DecodeRecords(append(b, 0)); !errors.Is(err, ErrCorruptBatch) {
		t.Errorf("DecodeRecords of a long batch: %v, want ErrCorruptBatch", err)
	}
	if _, _, err := DecodeRecords(b[:20]); !errors.Is(err, ErrBatchTooShort) {
		t.Errorf("DecodeRecords of a partial header: %v, want ErrBatchTooShort", err)
	}
}

// TestDecodeRecordsTruncatedCompressed cuts the compressed records short
// and fixes the length and CRC, so that ValidateBatch passes and only
// decompression can tell.
func TestDecodeRecordsTruncatedCompressed(t *testing.T) {
	records := manyRecords(100, 500)
	for _, c := range allCompressions {
		t.Run(c.String(), func(t *testing.T) {
			b, err := AppendBatch(nil, batchTemplate, records, c)
			if err != nil {
				t.Fatal(err)
			}
			for _, cut := range []int{1, 7, (len(b) - BatchHeaderSize) / 2} {
				short := handBatch(int32(len(records)), records[len(records)-1].OffsetDelta, c, b[BatchHeaderSize:len(b)-cut])
				if _, err := ValidateBatch(short); err != nil {
					t.Fatalf("ValidateBatch: %v", err)
				}
				if _, _, err := DecodeRecords(short); !errors.Is(err, ErrInvalidRecords) {
					t.Errorf("DecodeRecords cut %d bytes short: %v, want ErrInvalidRecords", cut, err)
				}
			}
		})
	}
}

// TestDecodeRecordsRealClient decodes batches a real client encoded:
// franz-go's producer sends them, with each codec, to the capture fixture
// (clientcapture_test.go), which keeps them as sent.
func TestDecodeRecordsRealClient(t *testing.T) {
	codecs := clientCodecs
	srv := newCaptureServer(t)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			sent := clientRecords(200)
			batches := realClientBatches(t, srv, "records-"+c.name, c.codec, sent)
			got, codecsSeen := decodeAll(t, batches)
			if !codecsSeen[c.want] {
				t.Errorf("no batch compressed with %s; saw %v", c.want, codecsSeen)
			}
			if len(got) != len(sent) {
				t.Fatalf("decoded %d records, sent %d", len(got), len(sent))
			}
			for j, r := range sent {
				want := Record{Key: r.Key, Value: r.Value}
				for _, h := range r.Headers {
					want.Headers = append(want.Headers, RecordHeader{Key: h.Key, Value: h.Value})
				}
				g := got[j]
				g.OffsetDelta, g.TimestampDelta = 0, 0 // checked by decodeAll
				if !reflect.DeepEqual(g, want) {
					t.Errorf("record %d:\n got %s\nwant %s", j, fmtRecord(g), fmtRecord(want))
				}
			}
		})
	}
}

// clientRecords returns n records with compressible values, null keys,
// tombstones, empty values and headers, null header values included.
func clientRecords(n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		r := &kgo.Record{Partition: 0}
		if i%7 != 3 {
			r.Key = fmt.Appendf(nil, "key-%d", i)
		}
		switch i % 11 {
		case 4: // tombstone
		case 5:
			r.Value = []byte{}
		default:
			r.Value = bytes.Repeat(fmt.Appendf(nil, "value %d, ", i), 20)
		}
		if i%3 == 0 {
			r.Headers = []kgo.RecordHeader{{Key: "trace", Value: fmt.Appendf(nil, "t-%d", i)}, {Key: "null"}}
		}
		recs[i] = r
	}
	return recs
}

// decodeAll validates and decodes a producer's batches, checking that
// each batch's records have offset deltas 0, 1, 2, ..., and returns the
// records and the codecs seen.
func decodeAll(t *testing.T, batches [][]byte) ([]Record, map[Compression]bool) {
	t.Helper()
	var records []Record
	codecs := make(map[Compression]bool)
	for _, batch := range batches {
		h, err := ValidateBatch(batch)
		if err != nil {
			t.Fatalf("ValidateBatch: %v", err)
		}
		_, recs, err := DecodeRecords(batch)
		if err != nil {
			t.Fatalf("DecodeRecords of a %s batch: %v", h.Compression(), err)
		}
		codecs[h.Compression()] = true
		for i, r := range recs {
			if r.OffsetDelta != int32(i) {
				t.Fatalf("record %d of a batch has offset delta %d", i, r.OffsetDelta)
			}
			records = append(records, r)
		}
	}
	return records, codecs
}

// TestValidateBatchManyCompressibleRecords: ValidateBatch accepts a
// compressed batch with more records than bytes, which a real producer can
// send (zstd packs 2000 one-byte values in under 2000 bytes).
func TestValidateBatchManyCompressibleRecords(t *testing.T) {
	records := make([]Record, 2000)
	for i := range records {
		records[i] = Record{OffsetDelta: int32(i), Value: []byte("v")}
	}
	for _, c := range allCompressions {
		b, err := AppendBatch(nil, BatchHeader{}, records, c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ValidateBatch(b); err != nil {
			t.Errorf("%s: ValidateBatch: %v", c, err)
		}
	}
}
