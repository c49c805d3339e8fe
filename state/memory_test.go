package state

import (
	"bytes"
	"fmt"
	"testing"
)

// testKeyValue is the suite every KeyValue backend passes.
func testKeyValue(t *testing.T, open func() KeyValue) {
	kv := open()
	for _, k := range []string{"b", "a", "c", "ab", "\xff", "\xff\xff"} {
		if err := kv.Put([]byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok, err := kv.Get([]byte("ab")); err != nil || !ok || string(v) != "vab" {
		t.Fatalf("Get ab = %q %v %v", v, ok, err)
	}
	v, _, _ := kv.Get([]byte("a"))
	v[0] = 'X' // the caller owns the returned slice
	if v2, _, _ := kv.Get([]byte("a")); string(v2) != "va" {
		t.Fatalf("store changed through a returned slice: %q", v2)
	}
	if _, ok, _ := kv.Get([]byte("zz")); ok {
		t.Fatal("absent key found")
	}
	scan := func(start, end []byte) string {
		var out []string
		if err := kv.Range(start, end, func(k, _ []byte) bool { out = append(out, string(k)); return true }); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%q", out)
	}
	for _, tc := range []struct {
		start, end []byte
		want       string
	}{
		{nil, nil, `["a" "ab" "b" "c" "\xff" "\xff\xff"]`},
		{[]byte("ab"), []byte("c"), `["ab" "b"]`},
		{nil, []byte("b"), `["a" "ab"]`},
		{[]byte("b"), nil, `["b" "c" "\xff" "\xff\xff"]`},
		{[]byte("a"), PrefixEnd([]byte("a")), `["a" "ab"]`},
		{[]byte("\xff"), PrefixEnd([]byte("\xff")), `["\xff" "\xff\xff"]`},
	} {
		if got := scan(tc.start, tc.end); got != tc.want {
			t.Errorf("Range(%q, %q) = %s, want %s", tc.start, tc.end, got, tc.want)
		}
	}
	n := 0
	kv.Range(nil, nil, func(_, _ []byte) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("Range went on after fn returned false: %d calls", n)
	}
	if err := kv.Delete([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete([]byte("never")); err != nil {
		t.Fatal(err)
	}
	if got := scan([]byte("a"), []byte("b")); got != `["a"]` {
		t.Errorf("after delete: %s", got)
	}
	if err := kv.Put([]byte("empty"), []byte{}); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := kv.Get([]byte("empty")); !ok || len(v) != 0 {
		t.Errorf("empty value: %q %v", v, ok)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.Get([]byte("a")); err != ErrClosed {
		t.Errorf("Get after Close: %v", err)
	}
}

func TestMemory(t *testing.T) { testKeyValue(t, func() KeyValue { return NewMemory() }) }

func TestLogged(t *testing.T) {
	var log bytes.Buffer
	testKeyValue(t, func() KeyValue {
		return Logged(NewMemory(), func(k, v []byte) error {
			if v == nil {
				fmt.Fprintf(&log, "del %s;", k)
			} else {
				fmt.Fprintf(&log, "put %s=%s;", k, v)
			}
			return nil
		})
	})
	want := "put b=vb;put a=va;put c=vc;put ab=vab;put \xff=v\xff;put \xff\xff=v\xff\xff;del ab;del never;put empty=;"
	if log.String() != want {
		t.Errorf("changelog %q\nwant      %q", log.String(), want)
	}
}
