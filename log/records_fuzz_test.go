package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"testing"
)

// FuzzDecodeRecords feeds DecodeRecords arbitrary batches. Properties:
// nothing panics; a batch that ValidateBatch accepts either decodes or is
// refused with ErrInvalidRecords; and a batch that decodes, re-encoded by
// AppendBatch, validates and decodes to the same records.
//
// The fuzz function rewrites each input's length and CRC before the second
// pass, so that mutations reach the records rather than die at the CRC.
func FuzzDecodeRecords(f *testing.F) {
	for _, c := range allCompressions {
		for _, records := range [][]Record{recordSet("headers"), recordSet("offset gaps"), manyRecords(5, 40)} {
			b, err := AppendBatch(nil, batchTemplate, records, c)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			f.Add(b[:len(b)-1])
			f.Add(b[:BatchHeaderSize+(len(b)-BatchHeaderSize)/2])
			flipped := bytes.Clone(b)
			flipped[BatchHeaderSize+(len(b)-BatchHeaderSize)/3] ^= 0x04
			f.Add(flipped)
		}
	}
	f.Add(handBatch(0, 0, CompressionNone, nil))

	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ValidateBatch(b)
		_, _, _ = DecodeRecords(b)
		if len(b) < BatchHeaderSize {
			return
		}
		b = bytes.Clone(b)
		binary.BigEndian.PutUint32(b[batchOffLength:], uint32(len(b)-batchLengthOverhead))
		binary.BigEndian.PutUint32(b[batchOffCRC:], crc32.Checksum(b[batchOffAttributes:], castagnoli))
		h, err := ValidateBatch(b)
		if err != nil {
			return
		}
		_, records, err := DecodeRecords(b)
		if cerr := CheckRecords(b); (cerr == nil) != (err == nil) {
			t.Fatalf("CheckRecords says %v where DecodeRecords says %v", cerr, err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidRecords) {
				t.Fatalf("DecodeRecords of a valid batch: %v, want ErrInvalidRecords", err)
			}
			return
		}
		if len(records) != int(h.RecordCount) {
			t.Fatalf("DecodeRecords returned %d records, header says %d", len(records), h.RecordCount)
		}
		if len(records) == 0 {
			return // an empty control batch: AppendBatch writes no such thing
		}
		checkReencode(t, h, records)
	})
}

// checkReencode re-encodes records with h as the template and checks the
// result validates and decodes to the same header and records.
func checkReencode(t *testing.T, h BatchHeader, records []Record) {
	t.Helper()
	again, err := AppendBatch(nil, h, records, h.Compression())
	if err != nil {
		t.Fatalf("AppendBatch of decoded records: %v", err)
	}
	h2, err := ValidateBatch(again)
	if err != nil {
		t.Fatalf("ValidateBatch of re-encoded batch: %v", err)
	}
	_, records2, err := DecodeRecords(again)
	if err != nil {
		t.Fatalf("DecodeRecords of re-encoded batch: %v", err)
	}
	// The original may claim a LastOffsetDelta past its last record;
	// AppendBatch writes the last record's.
	want := h
	want.Length, want.CRC = h2.Length, h2.CRC
	want.LastOffsetDelta = records[len(records)-1].OffsetDelta
	if h2 != want {
		t.Fatalf("re-encoded header\n got %+v\nwant %+v", h2, want)
	}
	if len(records2) != len(records) {
		t.Fatalf("re-encoded %d records, decoded %d", len(records), len(records2))
	}
	for i := range records {
		if !reflect.DeepEqual(records2[i], records[i]) {
			t.Fatalf("record %d re-encoded:\n got %s\nwant %s", i, fmtRecord(records2[i]), fmtRecord(records[i]))
		}
	}
}

func recordSet(name string) []Record {
	for _, set := range recordSets {
		if set.name == name {
			return set.records
		}
	}
	panic("no record set " + name)
}
