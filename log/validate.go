package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// A Validated is a RecordBatch that Validate accepted, for a caller that
// appends it to a log in the same process: Log.AppendValidated relies on
// Validate's checks instead of repeating them, so a produced batch's
// CRC-32C is computed once.
//
// The trust is in the caller's ownership of the bytes: between Validate and
// AppendValidated nothing may change them except v's own methods (the
// broker's request frame is touched only by its connection's goroutine
// until the response is sent). AppendValidated re-reads the header in
// every build; invariant builds (race included, so every test run) also
// recompute the CRC, so that a change is caught where bugs are looked for.
type Validated struct {
	batch []byte
	h     BatchHeader
}

// Validate checks that batch is exactly one RecordBatch that consumers and
// compaction can read: ValidateBatch's checks (magic, length, CRC-32C,
// header fields) and CheckRecords' (decompression within its bound, every
// record well formed). The Validated aliases batch.
func Validate(batch []byte) (Validated, error) {
	h, err := ValidateBatch(batch)
	if err != nil {
		return Validated{}, err
	}
	if err := checkRecordsOf(batch, &h); err != nil {
		return Validated{}, err
	}
	return Validated{batch: batch, h: h}, nil
}

// checkRecordsOf is CheckRecords on a batch whose header h has been parsed
// and whose length matches it.
func checkRecordsOf(batch []byte, h *BatchHeader) error {
	raw, err := decompress(h.Compression(), batch[BatchHeaderSize:], recordsBytesMax)
	if err != nil {
		return fmt.Errorf("log: decode records at offset %d: %w", h.BaseOffset, err)
	}
	if recordsWellFormed(raw, h.RecordCount, h.LastOffsetDelta) {
		return nil
	}
	if err := walkRecords(raw, h.RecordCount, h.LastOffsetDelta, nil); err != nil { // why not
		return fmt.Errorf("log: decode records at offset %d: %w: %w", h.BaseOffset, ErrInvalidRecords, err)
	}
	return nil
}

// Header is the batch's header as validated.
func (v *Validated) Header() BatchHeader { return v.h }

// Len is the size of the batch in bytes.
func (v *Validated) Len() int { return len(v.batch) }

// SetLogAppendTime does SetLogAppendTime on the batch and keeps the
// validated header in step with it.
func (v *Validated) SetLogAppendTime(nowMs int64) {
	SetLogAppendTime(v.batch, nowMs)
	v.h.Attributes |= attrTimestampType
	v.h.MaxTimestamp = nowMs
	v.h.CRC = binary.BigEndian.Uint32(v.batch[batchOffCRC:])
}

// unchanged checks that v's bytes still hold what Validate accepted: the
// header always (cheap), the CRC in invariant builds. The base offset and
// leader epoch, which the CRC does not cover and the log assigns, may
// differ. v must not be the zero Validated.
func (v *Validated) unchanged() error {
	h, err := ParseBatchHeader(v.batch)
	want := v.h
	want.BaseOffset, want.LeaderEpoch = h.BaseOffset, h.LeaderEpoch
	if err != nil || h != want || h.Size() != len(v.batch) {
		return fmt.Errorf("%w: header changed after validation: %+v, validated %+v", ErrCorruptBatch, h, v.h)
	}
	if invariants {
		if crc := crc32.Checksum(v.batch[batchOffAttributes:], castagnoli); crc != h.CRC {
			return fmt.Errorf("%w: changed after validation: crc %08x, computed %08x", ErrCorruptBatch, h.CRC, crc)
		}
	}
	return nil
}
