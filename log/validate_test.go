package log

import (
	"bytes"
	"errors"
	"testing"
)

// TestValidateAgreesWithChecks: Validate accepts exactly what
// ValidateBatch and CheckRecords accept together, with the same error.
func TestValidateAgreesWithChecks(t *testing.T) {
	good := testBatch(t, CompressionNone, 5, 1000)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	badRecords := testBatch(t, CompressionNone, 5, 1000)
	badRecords[BatchHeaderSize] = 0x7f // the first record's length: far past the batch
	SetLogAppendTime(badRecords, 1)    // a valid CRC over the bad records
	for name, b := range map[string][]byte{"good": good, "bad crc": badCRC, "bad records": badRecords, "short": good[:30]} {
		v, err := Validate(b)
		_, want := ValidateBatch(b)
		if want == nil {
			want = CheckRecords(b)
		}
		if (err == nil) != (want == nil) || err != nil && err.Error() != want.Error() {
			t.Errorf("%s: Validate: %v, ValidateBatch then CheckRecords: %v", name, err, want)
		}
		if err == nil && (v.Len() != len(b) || v.Header().RecordCount != 5) {
			t.Errorf("%s: Validated of %d bytes, %d records", name, v.Len(), v.Header().RecordCount)
		}
	}
	if !errors.Is(func() error { _, err := Validate(badRecords); return err }(), ErrInvalidRecords) {
		t.Errorf("bad records: want ErrInvalidRecords")
	}
}

// TestAppendValidated: a validated batch is appended as Append would (its
// offsets and leader epoch assigned, stamped LogAppendTime if asked), and
// the log's max.message.bytes still applies.
func TestAppendValidated(t *testing.T) {
	l := openTestLog(t, t.TempDir())
	defer l.Close()
	for i := range 3 {
		b := testBatch(t, CompressionNone, 4, 1000)
		v, err := Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			v.SetLogAppendTime(5000)
		}
		res, err := l.AppendValidated(&v, 7)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if res.BaseOffset != int64(4*i) || res.RecordCount != 4 {
			t.Fatalf("append %d: %+v", i, res)
		}
	}
	batches := readAllBatches(t, l, l.EndOffset())
	if len(batches) != 3 {
		t.Fatalf("read %d batches, want 3", len(batches))
	}
	for i, b := range batches {
		h, err := ValidateBatch(b)
		if err != nil || h.BaseOffset != int64(4*i) || h.LeaderEpoch != 7 {
			t.Fatalf("batch %d: %+v, %v", i, h, err)
		}
		if i == 2 && (!h.LogAppendTime() || h.MaxTimestamp != 5000) {
			t.Fatalf("batch 2 not stamped: %+v", h)
		}
	}

	cfg := l.Config()
	cfg.MaxBatchBytes = 100
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	v, err := Validate(testBatch(t, CompressionNone, 20, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendValidated(&v, 7); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("over max.message.bytes: %v, want ErrBatchTooLarge", err)
	}
	if _, err := l.AppendValidated(&Validated{}, 7); err == nil {
		t.Fatal("a zero Validated was appended")
	}
	if l.EndOffset() != 12 {
		t.Fatalf("end offset %d, want 12", l.EndOffset())
	}
}

// TestAppendValidatedChangedBatch: a batch whose bytes change between
// Validate and AppendValidated (a bug in the caller, which owns them) is
// not appended. A changed header is refused in every build (panicking in
// invariant builds); a changed record is caught by invariant builds, which
// recompute the CRC. Other builds trust the caller there: see Validated.
func TestAppendValidatedChangedBatch(t *testing.T) {
	cases := []struct {
		name   string
		change func(b []byte)
		always bool // caught in builds without invariants too
	}{
		{"record count", func(b []byte) { b[batchOffRecordCount+3]++ }, true},
		{"producer id", func(b []byte) { b[batchOffProducerID+7] ^= 1 }, true},
		{"crc field", func(b []byte) { b[batchOffCRC] ^= 1 }, true},
		{"a record's byte", func(b []byte) { b[len(b)-3] ^= 1 }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !c.always && !invariants {
				t.Skip("records are re-checked only in invariant builds (-race or -tags invariants)")
			}
			l := openTestLog(t, t.TempDir())
			defer l.Close()
			b := testBatch(t, CompressionNone, 4, 1000)
			v, err := Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			c.change(b)
			func() {
				defer func() {
					if r := recover(); r != nil && !invariants {
						t.Fatalf("panic without invariants: %v", r)
					} else if r == nil && invariants {
						t.Fatal("no panic in an invariant build")
					}
				}()
				if _, err := l.AppendValidated(&v, 0); !errors.Is(err, ErrCorruptBatch) {
					t.Fatalf("changed batch appended: %v", err)
				}
			}()
			if l.EndOffset() != 0 {
				t.Fatalf("end offset %d after a refused batch", l.EndOffset())
			}
		})
	}
}
