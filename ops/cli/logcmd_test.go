package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	rlog "github.com/runnel-io/runnel/log"
)

func TestLogDump(t *testing.T) {
	dir := t.TempDir()
	l, err := rlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	recs := []rlog.Record{{Key: []byte("k"), Value: []byte("hello")}, {OffsetDelta: 1, Key: []byte("k2")}}
	for i := 0; i < 3; i++ {
		b, err := rlog.AppendBatch(nil, rlog.BatchHeader{BaseTimestamp: 1700000000000, MaxTimestamp: 1700000000000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs, rlog.CompressionGzip)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	out, _, err := run(t, "log", "dump", "--records", dir)
	if err != nil {
		t.Fatalf("dump: %v\n%s", err, out)
	}
	for _, want := range []string{"0..5", "ok", `key="k" value="hello"`, `key="k2" value=null`, "codec=gzip", "offset=5"} {
		if !strings.Contains(out, want) {
			t.Errorf("dump output lacks %q:\n%s", want, out)
		}
	}

	// A torn tail is reported, not repaired.
	seg := filepath.Join(dir, "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	torn := data[:len(data)-5]
	if err := os.WriteFile(seg, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, "log", "dump", dir)
	if err == nil || !strings.Contains(out, "invalid from byte") {
		t.Fatalf("dump of a torn segment: err=%v\n%s", err, out)
	}
	if after, _ := os.ReadFile(seg); len(after) != len(torn) {
		t.Fatalf("dump changed the segment: %d bytes, was %d", len(after), len(torn))
	}
	if _, _, err := run(t, "log", "dump", t.TempDir()); err == nil {
		t.Fatal("dump of an empty directory: got nil error")
	}
}
