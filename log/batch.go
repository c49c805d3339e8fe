package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The layout of a Kafka RecordBatch (magic 2), as clients send it and as
// runnel stores it. Offsets are from the start of the batch.
//
//	baseOffset           int64  0
//	batchLength          int32  8   bytes after this field
//	partitionLeaderEpoch int32  12
//	magic                int8   16
//	crc                  uint32 17  CRC-32C of bytes [21, end)
//	attributes           int16  21
//	lastOffsetDelta      int32  23
//	baseTimestamp        int64  27
//	maxTimestamp         int64  35
//	producerId           int64  43
//	producerEpoch        int16  51
//	baseSequence         int32  53
//	recordCount          int32  57
//	records              ...    61
const (
	batchOffBaseOffset   = 0
	batchOffLength       = 8
	batchOffLeaderEpoch  = 12
	batchOffMagic        = 16
	batchOffCRC          = 17
	batchOffAttributes   = 21
	batchOffLastDelta    = 23
	batchOffBaseTime     = 27
	batchOffMaxTime      = 35
	batchOffProducerID   = 43
	batchOffProducerEp   = 51
	batchOffBaseSequence = 53
	batchOffRecordCount  = 57

	// BatchHeaderSize is the size of a RecordBatch header, records excluded.
	BatchHeaderSize = 61
	// batchLengthOverhead is what batchLength does not count: baseOffset
	// and batchLength itself.
	batchLengthOverhead = 12

	// Attribute bits.
	attrCompressionMask = 0x07
	attrTimestampType   = 0x08 // set: LogAppendTime
	attrTransactional   = 0x10
	attrControl         = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors a malformed batch is refused with. Callers (the broker) map them to
// Kafka error codes: ErrCorruptBatch → CORRUPT_MESSAGE, and so on.
var (
	ErrCorruptBatch   = errors.New("log: corrupt record batch")
	ErrBadMagic       = errors.New("log: unsupported record batch magic")
	ErrBatchTooShort  = errors.New("log: record batch truncated")
	ErrBatchTooLarge  = errors.New("log: record batch too large")
	ErrEmptyBatch     = errors.New("log: record batch has no records")
	ErrInvalidRecords = errors.New("log: invalid records in batch")
)

// BatchHeader is the decoded fixed part of a RecordBatch.
type BatchHeader struct {
	BaseOffset      int64
	Length          int32 // batchLength: bytes after the length field
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	BaseTimestamp   int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	RecordCount     int32
}

// Size is the number of bytes the whole batch occupies.
func (h *BatchHeader) Size() int { return int(h.Length) + batchLengthOverhead }

// LastOffset is the offset of the batch's last record.
func (h *BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch's last record.
func (h *BatchHeader) NextOffset() int64 { return h.LastOffset() + 1 }

// Compression is the codec the batch's records are compressed with.
func (h *BatchHeader) Compression() Compression {
	return Compression(h.Attributes & attrCompressionMask)
}

// LogAppendTime reports whether the batch's timestamps are the broker's.
func (h *BatchHeader) LogAppendTime() bool { return h.Attributes&attrTimestampType != 0 }

// Transactional reports whether the batch belongs to a transaction.
func (h *BatchHeader) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch is a control batch (transaction marker).
func (h *BatchHeader) Control() bool { return h.Attributes&attrControl != 0 }

// ParseBatchHeader decodes the header at the start of b without checking
// the CRC or that the whole batch is present; b must hold at least
// BatchHeaderSize bytes.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrBatchTooShort, len(b), BatchHeaderSize)
	}
	be := binary.BigEndian
	h := BatchHeader{
		BaseOffset:      int64(be.Uint64(b[batchOffBaseOffset:])),
		Length:          int32(be.Uint32(b[batchOffLength:])),
		LeaderEpoch:     int32(be.Uint32(b[batchOffLeaderEpoch:])),
		Magic:           int8(b[batchOffMagic]),
		CRC:             be.Uint32(b[batchOffCRC:]),
		Attributes:      int16(be.Uint16(b[batchOffAttributes:])),
		LastOffsetDelta: int32(be.Uint32(b[batchOffLastDelta:])),
		BaseTimestamp:   int64(be.Uint64(b[batchOffBaseTime:])),
		MaxTimestamp:    int64(be.Uint64(b[batchOffMaxTime:])),
		ProducerID:      int64(be.Uint64(b[batchOffProducerID:])),
		ProducerEpoch:   int16(be.Uint16(b[batchOffProducerEp:])),
		BaseSequence:    int32(be.Uint32(b[batchOffBaseSequence:])),
		RecordCount:     int32(be.Uint32(b[batchOffRecordCount:])),
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: %d", ErrBadMagic, h.Magic)
	}
	if h.Length < BatchHeaderSize-batchLengthOverhead {
		return h, fmt.Errorf("%w: batch length %d is shorter than a header", ErrCorruptBatch, h.Length)
	}
	return h, nil
}

// ValidateBatch checks that b is exactly one well-formed RecordBatch: magic
// 2, a length that matches len(b), a CRC-32C that matches, a sane record
// count and offset delta, a known codec. It returns the decoded header. It
// does not decompress the records: a batch is stored as sent.
func ValidateBatch(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		if h.Size() > len(b) {
			return h, fmt.Errorf("%w: header says %d bytes, have %d", ErrBatchTooShort, h.Size(), len(b))
		}
		return h, fmt.Errorf("%w: header says %d bytes, have %d", ErrCorruptBatch, h.Size(), len(b))
	}
	if crc := crc32.Checksum(b[batchOffAttributes:], castagnoli); crc != h.CRC {
		return h, fmt.Errorf("%w: crc %08x, computed %08x", ErrCorruptBatch, h.CRC, crc)
	}
	return h, checkBatchFields(&h)
}

// checkBatchFields checks what the CRC cannot: fields a well-behaved client
// never sends.
func checkBatchFields(h *BatchHeader) error {
	if h.RecordCount <= 0 && !h.Control() {
		return fmt.Errorf("%w: record count %d", ErrEmptyBatch, h.RecordCount)
	}
	if h.LastOffsetDelta < 0 || (h.RecordCount > 0 && h.LastOffsetDelta < h.RecordCount-1) {
		return fmt.Errorf("%w: last offset delta %d for %d records", ErrInvalidRecords, h.LastOffsetDelta, h.RecordCount)
	}
	if h.Compression() > CompressionZstd {
		return fmt.Errorf("%w: unknown compression codec %d", ErrInvalidRecords, h.Compression())
	}
	// The smallest record is recordSizeMin bytes before compression; a
	// compressed batch may pack many more records than it has bytes, but
	// never more than its decompressed size limit can hold.
	space := int64(h.Size() - BatchHeaderSize)
	if h.Compression() != CompressionNone {
		space = recordsBytesMax
	}
	if int64(h.RecordCount) > space/recordSizeMin {
		return fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrInvalidRecords, h.RecordCount, space)
	}
	return nil
}

// setBaseOffset writes the batch's base offset. baseOffset is outside the
// CRC's range, so the CRC stays valid.
func setBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[batchOffBaseOffset:], uint64(off))
}

// setLeaderEpoch writes the partition leader epoch, also outside the CRC.
func setLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[batchOffLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime rewrites the batch's timestamp type and max timestamp to
// the broker's clock, as Kafka does for message.timestamp.type=LogAppendTime,
// and recomputes the CRC. b must be a validated batch.
func SetLogAppendTime(b []byte, nowMs int64) {
	be := binary.BigEndian
	attrs := be.Uint16(b[batchOffAttributes:]) | attrTimestampType
	be.PutUint16(b[batchOffAttributes:], attrs)
	be.PutUint64(b[batchOffMaxTime:], uint64(nowMs))
	be.PutUint32(b[batchOffCRC:], crc32.Checksum(b[batchOffAttributes:], castagnoli))
}

// BatchIter walks consecutive batches in a byte slice, as read from a
// segment or a Fetch response. It stops at the first incomplete batch.
type BatchIter struct {
	buf []byte
	pos int
	err error
}

// NewBatchIter returns an iterator over the batches in buf.
func NewBatchIter(buf []byte) *BatchIter { return &BatchIter{buf: buf} }

// Next returns the next whole batch and its header. ok is false at the end
// of buf, at a partial trailing batch, or at a malformed header (see Err).
func (it *BatchIter) Next() (h BatchHeader, batch []byte, ok bool) {
	rest := it.buf[it.pos:]
	if len(rest) < BatchHeaderSize {
		return h, nil, false
	}
	h, err := ParseBatchHeader(rest)
	if err != nil {
		it.err = err
		return h, nil, false
	}
	if h.Size() > len(rest) {
		return h, nil, false
	}
	batch = rest[:h.Size()]
	it.pos += h.Size()
	return h, batch, true
}

// Pos is the number of bytes consumed by whole batches so far.
func (it *BatchIter) Pos() int { return it.pos }

// Err is the header error that stopped the iteration, if any.
func (it *BatchIter) Err() error { return it.err }
