package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"slices"
)

// recordsBytesMax bounds a batch's records section, once decompressed. A
// compressed batch that inflates past it is refused as a decompression
// bomb; AppendBatch refuses to write a batch that DecodeRecords would
// refuse to read.
const recordsBytesMax = 64 << 20

// recordSizeMin is the size of the smallest encoded record: one byte each
// for the length, the attributes, the timestamp and offset deltas, the two
// null lengths and the zero header count.
const recordSizeMin = 7

// Varints are at most this long: Kafka's readVarint and readVarlong refuse
// longer ones.
const (
	varint32BytesMax = 5
	varint64BytesMax = 10
)

// Record is one record of a RecordBatch, its offset and timestamp relative
// to the batch's base offset and base timestamp. A nil Key is a null key;
// a nil Value is a null value, a tombstone for compaction. Empty and nil
// are distinct and kept distinct by DecodeRecords and AppendBatch; Headers
// is nil when a record has none.
type Record struct {
	OffsetDelta    int32
	TimestampDelta int64
	Key, Value     []byte
	Headers        []RecordHeader
}

// RecordHeader is a record header: a key that is never null, and a value
// that may be (nil).
type RecordHeader struct {
	Key   string
	Value []byte
}

// DecodeRecords decodes the records of batch, one whole RecordBatch that
// ValidateBatch accepted: it decompresses the records section, bounded by
// recordsBytesMax, and decodes exactly the header's RecordCount records,
// whose offset deltas must be strictly increasing, non-negative and no
// larger than the header's LastOffsetDelta (compaction leaves gaps).
//
// Malformed records are an error wrapping ErrInvalidRecords; DecodeRecords
// never panics, whatever batch holds. The records' keys and values alias
// batch when it is uncompressed: copy them to keep them past batch's reuse.
// Record attributes, unused since magic 2, are ignored, as Kafka does.
func DecodeRecords(batch []byte) (BatchHeader, []Record, error) {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return h, nil, err
	}
	if h.Size() != len(batch) {
		return h, nil, fmt.Errorf("%w: header says %d bytes, have %d", ErrCorruptBatch, h.Size(), len(batch))
	}
	raw, err := decompress(h.Compression(), batch[BatchHeaderSize:], recordsBytesMax)
	if err != nil {
		return h, nil, fmt.Errorf("log: decode records at offset %d: %w", h.BaseOffset, err)
	}
	records, err := decodeRecords(raw, h.RecordCount, h.LastOffsetDelta)
	if err != nil {
		return h, nil, fmt.Errorf("log: decode records at offset %d: %w: %w", h.BaseOffset, ErrInvalidRecords, err)
	}
	return h, records, nil
}

// decodeRecords decodes exactly count records filling raw.
func decodeRecords(raw []byte, count, lastOffsetDelta int32) ([]Record, error) {
	if count < 0 || int64(count) > int64(len(raw)/recordSizeMin) {
		return nil, fmt.Errorf("%d records cannot fit in %d bytes", count, len(raw))
	}
	records := make([]Record, 0, count)
	err := walkRecords(raw, count, lastOffsetDelta, func(r Record) { records = append(records, r) })
	if err != nil {
		return nil, err
	}
	return records, nil
}

// walkRecords checks that raw holds exactly count well-formed records
// with increasing offset deltas up to lastOffsetDelta, passing each to fn
// (if not nil) without keeping them.
func walkRecords(raw []byte, count, lastOffsetDelta int32, fn func(Record)) error {
	if count < 0 || int64(count) > int64(len(raw)/recordSizeMin) {
		return fmt.Errorf("%d records cannot fit in %d bytes", count, len(raw))
	}
	rest := raw
	prev := int32(-1)
	for i := range int(count) {
		r, n, err := decodeRecord(rest)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if r.OffsetDelta < 0 || i > 0 && r.OffsetDelta <= prev {
			return fmt.Errorf("record %d: offset delta %d out of order", i, r.OffsetDelta)
		}
		if r.OffsetDelta > lastOffsetDelta {
			return fmt.Errorf("record %d: offset delta %d past the batch's last %d", i, r.OffsetDelta, lastOffsetDelta)
		}
		if fn != nil {
			fn(r)
		}
		prev = r.OffsetDelta
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d bytes after the last of %d records", len(rest), count)
	}
	return nil
}

// CheckRecords does DecodeRecords' checks (decompression within its
// bound, every record well formed) without keeping the records: the
// broker's validation of a produced batch, at less cost.
func CheckRecords(batch []byte) error {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return err
	}
	if h.Size() != len(batch) {
		return fmt.Errorf("%w: header says %d bytes, have %d", ErrCorruptBatch, h.Size(), len(batch))
	}
	return checkRecordsOf(batch, &h)
}

// decodeRecord decodes the record at the start of b and returns it with
// the number of bytes it took. Its length must match its fields exactly.
func decodeRecord(b []byte) (Record, int, error) {
	length, n := readVarint(b, varint32BytesMax)
	if n == 0 || length > math.MaxInt32 {
		return Record{}, 0, errors.New("bad length varint")
	}
	if length < 0 || length > int64(len(b)-n) {
		return Record{}, 0, fmt.Errorf("length %d, %d bytes left", length, len(b)-n)
	}
	d := recordDecoder{b: b[n : n+int(length)]}
	var r Record
	d.skipByte("attributes")
	r.TimestampDelta = d.varint64("timestamp delta")
	r.OffsetDelta = d.varint32("offset delta", "")
	r.Key = d.nullableBytes("key")
	r.Value = d.nullableBytes("value")
	r.Headers = d.headers()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes after its fields", len(d.b))
	}
	return r, n + int(length), d.err
}

// recordDecoder reads the fields of one record. The first error sticks and
// makes every later read a no-op returning the zero value.
type recordDecoder struct {
	b   []byte // what is left of the record
	err error
}

func (d *recordDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *recordDecoder) skipByte(what string) {
	if d.err != nil {
		return
	}
	if len(d.b) == 0 {
		d.fail("no %s", what)
		return
	}
	d.b = d.b[1:]
}

func (d *recordDecoder) varint64(what string) int64 {
	if d.err != nil {
		return 0
	}
	x, n := readVarint(d.b, varint64BytesMax)
	if n == 0 {
		d.fail("bad %s varint", what)
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *recordDecoder) varint32(what, suffix string) int32 {
	if d.err != nil {
		return 0
	}
	x, n := readVarint(d.b, varint32BytesMax)
	if n == 0 || x < math.MinInt32 || x > math.MaxInt32 {
		d.fail("bad %s%s varint", what, suffix)
		return 0
	}
	d.b = d.b[n:]
	return int32(x)
}

// nullableBytes reads a varint length, -1 for null, and that many bytes.
// The result aliases the record, its capacity clipped.
func (d *recordDecoder) nullableBytes(what string) []byte {
	l := d.varint32(what, " length")
	if d.err != nil || l == -1 {
		return nil
	}
	if l < -1 || int(l) > len(d.b) {
		d.fail("%s length %d, %d bytes left", what, l, len(d.b))
		return nil
	}
	v := d.b[:l:l]
	d.b = d.b[l:]
	return v
}

// headers reads a varint count and that many headers; nil for none.
func (d *recordDecoder) headers() []RecordHeader {
	count := d.varint32("header count", "")
	if d.err != nil || count == 0 {
		return nil
	}
	// A header is at least its two lengths: this bounds the allocation.
	if count < 0 || int(count) > len(d.b)/2 {
		d.fail("%d headers cannot fit in %d bytes", count, len(d.b))
		return nil
	}
	headers := make([]RecordHeader, count)
	for i := range headers {
		key := d.nullableBytes("header key")
		if d.err == nil && key == nil {
			d.fail("header %d has a null key", i)
		}
		headers[i] = RecordHeader{Key: string(key), Value: d.nullableBytes("header value")}
	}
	if d.err != nil {
		return nil
	}
	return headers
}

// readVarint decodes a zigzag varint of at most bytesMax bytes at the start
// of b, returning it and its size, or a size of 0 if there is none.
func readVarint(b []byte, bytesMax int) (int64, int) {
	ux, n := binary.Uvarint(b)
	if n <= 0 || n > bytesMax {
		return 0, 0
	}
	return int64(ux>>1) ^ -int64(ux&1), n
}

// varintSize is the size of x as a zigzag varint.
func varintSize(x int64) int {
	ux := uint64(x<<1) ^ uint64(x>>63)
	return (bits.Len64(ux|1) + 6) / 7
}

// AppendBatch appends to dst a RecordBatch (magic 2) holding records,
// compressed with c. The base offset, leader epoch, timestamps, producer
// fields, base sequence and the attributes other than the codec come from
// h; the length, CRC, codec bits, record count and LastOffsetDelta (the
// last record's OffsetDelta) are computed. Offset deltas must be strictly
// increasing and non-negative; gaps are allowed, so compaction can rewrite
// a batch keeping only some records at their offsets.
//
// The result passes ValidateBatch, and DecodeRecords reads records back.
// On error, dst is returned unchanged. The records' bytes must not lie in
// dst's spare capacity: DecodeRecords' results alias their batch, so
// rewriting a batch in place needs a separate dst.
func AppendBatch(dst []byte, h BatchHeader, records []Record, c Compression) ([]byte, error) {
	rawSize, err := checkAppend(records, c)
	if err != nil {
		return dst, fmt.Errorf("log: append batch at offset %d: %w", h.BaseOffset, err)
	}
	start := len(dst)
	dst = slices.Grow(dst, BatchHeaderSize+rawSize)[:start+BatchHeaderSize]
	if c == CompressionNone {
		dst = appendRecords(dst, records)
	} else {
		raw := appendRecords(make([]byte, 0, rawSize), records)
		out, err := compress(c, dst, raw)
		if err != nil {
			return dst[:start], fmt.Errorf("log: append batch at offset %d: %w", h.BaseOffset, err)
		}
		dst = out
	}
	length := len(dst) - start - batchLengthOverhead
	if length > math.MaxInt32 {
		return dst[:start], fmt.Errorf("log: append batch at offset %d: %w: %d bytes", h.BaseOffset, ErrBatchTooLarge, length)
	}
	h.Length = int32(length)
	h.Magic = 2
	h.Attributes = h.Attributes&^attrCompressionMask | int16(c)
	h.LastOffsetDelta = records[len(records)-1].OffsetDelta
	h.RecordCount = int32(len(records))
	putBatchHeader(dst[start:], &h)
	return dst, nil
}

// checkAppend checks AppendBatch's arguments and returns the size of the
// encoded records, uncompressed.
func checkAppend(records []Record, c Compression) (int, error) {
	if c < CompressionNone || c > CompressionZstd {
		return 0, fmt.Errorf("%w: unknown compression codec %d", ErrInvalidRecords, c)
	}
	if len(records) == 0 {
		return 0, ErrEmptyBatch
	}
	size := 0
	for i := range records {
		r := &records[i]
		if r.OffsetDelta < 0 || i > 0 && r.OffsetDelta <= records[i-1].OffsetDelta {
			return 0, fmt.Errorf("%w: record %d: offset delta %d out of order", ErrInvalidRecords, i, r.OffsetDelta)
		}
		body := recordBodySize(r)
		if body > recordsBytesMax {
			return 0, fmt.Errorf("%w: record %d: %d bytes", ErrBatchTooLarge, i, body)
		}
		if size += varintSize(int64(body)) + body; size > recordsBytesMax {
			return 0, fmt.Errorf("%w: records exceed %d bytes", ErrBatchTooLarge, recordsBytesMax)
		}
	}
	return size, nil
}

// recordBodySize is the size of r's encoding after its length varint. It
// saturates at past recordsBytesMax rather than overflow.
func recordBodySize(r *Record) int {
	n := 1 + varintSize(r.TimestampDelta) + varintSize(int64(r.OffsetDelta)) +
		nullableSize(r.Key) + nullableSize(r.Value) + varintSize(int64(len(r.Headers)))
	for i := range r.Headers {
		n += varintSize(int64(len(r.Headers[i].Key))) + len(r.Headers[i].Key) + nullableSize(r.Headers[i].Value)
		if n > recordsBytesMax {
			break
		}
	}
	return n
}

func nullableSize(b []byte) int {
	if b == nil {
		return varintSize(-1)
	}
	return varintSize(int64(len(b))) + len(b)
}

func appendRecords(dst []byte, records []Record) []byte {
	for i := range records {
		r := &records[i]
		dst = binary.AppendVarint(dst, int64(recordBodySize(r)))
		dst = append(dst, 0) // attributes: unused
		dst = binary.AppendVarint(dst, r.TimestampDelta)
		dst = binary.AppendVarint(dst, int64(r.OffsetDelta))
		dst = appendNullable(dst, r.Key)
		dst = appendNullable(dst, r.Value)
		dst = binary.AppendVarint(dst, int64(len(r.Headers)))
		for _, hd := range r.Headers {
			dst = binary.AppendVarint(dst, int64(len(hd.Key)))
			dst = append(dst, hd.Key...)
			dst = appendNullable(dst, hd.Value)
		}
	}
	return dst
}

func appendNullable(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// putBatchHeader writes h over the first BatchHeaderSize bytes of b, then
// the CRC-32C of everything from the attributes to the end of b.
func putBatchHeader(b []byte, h *BatchHeader) {
	be := binary.BigEndian
	be.PutUint64(b[batchOffBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[batchOffLength:], uint32(h.Length))
	be.PutUint32(b[batchOffLeaderEpoch:], uint32(h.LeaderEpoch))
	b[batchOffMagic] = byte(h.Magic)
	be.PutUint16(b[batchOffAttributes:], uint16(h.Attributes))
	be.PutUint32(b[batchOffLastDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[batchOffBaseTime:], uint64(h.BaseTimestamp))
	be.PutUint64(b[batchOffMaxTime:], uint64(h.MaxTimestamp))
	be.PutUint64(b[batchOffProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[batchOffProducerEp:], uint16(h.ProducerEpoch))
	be.PutUint32(b[batchOffBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[batchOffRecordCount:], uint32(h.RecordCount))
	h.CRC = crc32.Checksum(b[batchOffAttributes:], castagnoli)
	be.PutUint32(b[batchOffCRC:], h.CRC)
}
