package log

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"testing"
)

// appendN appends n batches of k records and returns them as stored.
func appendN(t *testing.T, l *Log, n, k int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := testBatch(t, CompressionNone, k, int64(1000+i))
		if _, err := l.Append(b, 0); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	l.SetHighWatermark(l.EndOffset())
	return out
}

func TestReadLimits(t *testing.T) {
	l := openTestLog(t, t.TempDir(), WithConfig(smallConfig()))
	defer l.Close()
	batches := appendN(t, l, 20, 4) // offsets 0..79, 4 per batch
	size := len(batches[0])

	cases := []struct {
		name      string
		off       int64
		lim       ReadLimit
		wantFirst int64
		wantN     int // batches
	}{
		{"whole batches only", 0, ReadLimit{MaxBytes: 2*size + size/2, MaxOffset: 80}, 0, 2},
		{"mid-batch offset returns its batch", 6, ReadLimit{MaxBytes: size, MaxOffset: 80}, 4, 1},
		{"max offset excludes the batch holding it", 0, ReadLimit{MaxBytes: 1 << 20, MaxOffset: 9}, 0, 2},
		{"max offset at a boundary", 0, ReadLimit{MaxBytes: 1 << 20, MaxOffset: 8}, 0, 2},
		{"first batch too big without MinOne", 0, ReadLimit{MaxBytes: size - 1, MaxOffset: 80}, 0, 0},
		{"first batch too big with MinOne", 0, ReadLimit{MaxBytes: 1, MaxOffset: 80, MinOne: true}, 0, 1},
		{"at the end", 80, ReadLimit{MaxBytes: 1 << 20, MaxOffset: 80}, 0, 0},
		{"at the high watermark", 40, ReadLimit{MaxBytes: 1 << 20, MaxOffset: 40}, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := l.Read(tc.off, tc.lim)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := s.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantN == 0 {
				if len(got) != 0 {
					t.Fatalf("got %d bytes, want none", len(got))
				}
				return
			}
			first := int(tc.wantFirst / 4)
			want := bytes.Join(batches[first:first+tc.wantN], nil)
			if !bytes.Equal(got, want) || s.FirstOffset != tc.wantFirst {
				t.Fatalf("got %d bytes from %d, want %d bytes (%d batches) from %d", len(got), s.FirstOffset, len(want), tc.wantN, tc.wantFirst)
			}
		})
	}
}

// TestSliceWriteToSocket sends a slice over a real TCP connection (the
// sendfile path) and a pipe (the copy path); both deliver the same bytes.
func TestSliceWriteToSocket(t *testing.T) {
	l := openTestLog(t, t.TempDir(), WithConfig(smallConfig()))
	defer l.Close()
	appendN(t, l, 50, 10)
	s, err := l.Read(0, ReadLimit{MaxBytes: 1 << 20, MaxOffset: l.EndOffset()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want, err := s.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	before := sendfileCalls.Load()
	n, err := s.WriteTo(c)
	c.Close()
	if runtime.GOOS == "linux" && sendfileCalls.Load() == before {
		t.Error("WriteTo to a TCP connection did not use sendfile")
	}
	if err != nil || n != int64(len(want)) {
		t.Fatalf("WriteTo socket: %d bytes, %v; want %d", n, err, len(want))
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("socket received %d bytes that differ from the slice's %d", len(b), len(want))
	}

	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("WriteTo buffer: %v", err)
	}
}
