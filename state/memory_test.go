package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
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

// TestMemoryModel checks Memory against a Go map under random puts,
// overwrites and deletes of a few keys (so the hash index and the B-tree
// must stay in step): Get, Len and a full Range agree with the map after
// every step, and a caller reusing its key and value buffers changes
// nothing stored.
func TestMemoryModel(t *testing.T) {
	m := NewMemory()
	model := map[string]string{}
	rng := rand.New(rand.NewPCG(1, 2))
	kbuf, vbuf := make([]byte, 0, 8), make([]byte, 0, 8)
	for step := range 5000 {
		kbuf = fmt.Appendf(kbuf[:0], "k%d", rng.IntN(40))
		vbuf = fmt.Appendf(vbuf[:0], "v%d", step)
		if rng.IntN(4) == 0 {
			delete(model, string(kbuf))
			if err := m.Delete(kbuf); err != nil {
				t.Fatal(err)
			}
		} else {
			model[string(kbuf)] = string(vbuf)
			if err := m.Put(kbuf, vbuf); err != nil {
				t.Fatal(err)
			}
		}
		kbuf[0], vbuf[0] = 'X', 'X' // reused by the caller
		if m.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", step, m.Len(), len(model))
		}
		for k, v := range model {
			if got, ok, _ := m.Get([]byte(k)); !ok || string(got) != v {
				t.Fatalf("step %d: Get %q = %q %v, want %q", step, k, got, ok, v)
			}
		}
		var keys []string
		m.Range(nil, nil, func(k, v []byte) bool {
			if model[string(k)] != string(v) {
				t.Fatalf("step %d: Range %q=%q, want %q", step, k, v, model[string(k)])
			}
			keys = append(keys, string(k))
			return true
		})
		if len(keys) != len(model) || !slices.IsSorted(keys) {
			t.Fatalf("step %d: Range keys %q (%d in the model)", step, keys, len(model))
		}
	}
}
