package state

import (
	"fmt"
	"math"
	"testing"
)

func TestWindowStore(t *testing.T) {
	w := &WindowStore{KV: NewMemory()}
	put := func(k string, start int64, v string) {
		t.Helper()
		if err := w.Put([]byte(k), start, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	put("a", 10, "a10")
	put("a", -5, "a-5")
	put("ab", 0, "ab0") // a key that extends "a" must not show in a's windows
	put("a", 20, "a20")
	put("a", 10, "a10'") // replaces
	fetch := func(k string, from, to int64) string {
		var out []string
		if err := w.Fetch([]byte(k), from, to, func(s int64, v []byte) bool {
			out = append(out, fmt.Sprintf("%d:%s", s, v))
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		k        string
		from, to int64
		want     string
	}{
		{"a", math.MinInt64, math.MaxInt64, "[-5:a-5 10:a10' 20:a20]"},
		{"a", 10, 20, "[10:a10' 20:a20]"},
		{"a", 11, 19, "[]"},
		{"ab", 0, 0, "[0:ab0]"},
		{"b", 0, 100, "[]"},
	} {
		if got := fetch(tc.k, tc.from, tc.to); got != tc.want {
			t.Errorf("Fetch(%s, %d, %d) = %s, want %s", tc.k, tc.from, tc.to, got, tc.want)
		}
	}
	if v, ok, _ := w.Get([]byte("a"), 10); !ok || string(v) != "a10'" {
		t.Errorf("Get = %q %v", v, ok)
	}
	var all []string
	w.All(0, 15, func(k []byte, s int64, v []byte) bool { all = append(all, fmt.Sprintf("%s@%d", k, s)); return true })
	if fmt.Sprint(all) != "[a@10 ab@0]" {
		t.Errorf("All = %v", all)
	}
	if n, err := w.Expire(10); err != nil || n != 2 {
		t.Fatalf("Expire(10) = %d, %v; want 2 windows", n, err)
	}
	if got := fetch("a", math.MinInt64, math.MaxInt64); got != "[10:a10' 20:a20]" {
		t.Errorf("after Expire(10): %s", got)
	}
	if got := fetch("ab", math.MinInt64, math.MaxInt64); got != "[]" {
		t.Errorf("after Expire(10): ab %s", got)
	}

	// A join buffer's layout: several values per key and time, numbered
	// by their writer.
	dup := &WindowStore{KV: NewMemory()}
	dup.KV.Put(WindowKey([]byte("k"), 5, 1), []byte("x"))
	dup.KV.Put(WindowKey([]byte("k"), 5, 2), []byte("y"))
	dup.KV.Put(WindowKey([]byte("k"), 6, 3), []byte("z"))
	var got []string
	dup.Fetch([]byte("k"), 5, 5, func(_ int64, v []byte) bool { got = append(got, string(v)); return true })
	if fmt.Sprint(got) != "[x y]" {
		t.Errorf("duplicates: %v", got)
	}
	dup.Delete([]byte("k"), 5)
	got = nil
	dup.Fetch([]byte("k"), 0, 10, func(_ int64, v []byte) bool { got = append(got, string(v)); return true })
	if fmt.Sprint(got) != "[z]" {
		t.Errorf("after Delete: %v", got)
	}
}

// TestExpireIsLocal: expiry deletes from the store a Logged wrapper
// wraps and writes no changelog record, while Put, Delete and the meta
// key are logged; the scans skip the meta key.
func TestExpireIsLocal(t *testing.T) {
	var log []string
	logged := func() KeyValue {
		return Logged(NewMemory(), func(k, v []byte) error {
			log = append(log, fmt.Sprintf("%q=%q", k, v))
			return nil
		})
	}
	w := &WindowStore{KV: logged()}
	s := &SessionStore{KV: logged()}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Put([]byte("a"), 5, []byte("x")))
	must(w.Put([]byte("a"), 50, []byte("y")))
	must(w.PutMeta([]byte("m")))
	must(s.Put([]byte("a"), 1, 5, []byte("s")))
	must(s.Put([]byte("a"), 40, 60, []byte("t")))
	must(s.PutMeta([]byte("n")))
	if len(log) != 6 {
		t.Fatalf("changelog %v: want the 6 puts", log)
	}
	if n, err := w.Expire(10); err != nil || n != 1 {
		t.Fatalf("window Expire = %d, %v", n, err)
	}
	if n, err := s.Expire(10); err != nil || n != 1 {
		t.Fatalf("session Expire = %d, %v", n, err)
	}
	if len(log) != 6 {
		t.Errorf("expiry wrote to the changelog: %v", log[6:])
	}
	var got []string
	must(w.All(math.MinInt64, math.MaxInt64, func(k []byte, start int64, v []byte) bool {
		got = append(got, fmt.Sprintf("%s@%d=%s", k, start, v))
		return true
	}))
	must(s.All(func(k []byte, start, end int64, v []byte) bool {
		got = append(got, fmt.Sprintf("%s[%d,%d]=%s", k, start, end, v))
		return true
	}))
	if fmt.Sprint(got) != "[a@50=y a[40,60]=t]" {
		t.Errorf("after expiry: %v", got)
	}
	for _, m := range []func() ([]byte, bool, error){w.Meta, s.Meta} {
		if v, ok, err := m(); err != nil || !ok || (string(v) != "m" && string(v) != "n") {
			t.Errorf("Meta = %q %v %v", v, ok, err)
		}
	}
	if _, _, _, err := SplitWindowKey(MetaKey()); err == nil {
		t.Error("the meta key decodes as a window key")
	}
	if _, _, _, err := SplitSessionKey(MetaKey()); err == nil {
		t.Error("the meta key decodes as a session key")
	}
	mem := NewMemory()
	if Local(mem) != KeyValue(mem) || Local(Logged(mem, nil)) != KeyValue(mem) {
		t.Error("Local does not unwrap Logged, or wraps a plain store")
	}
}

func FuzzSplitWindowKey(f *testing.F) {
	f.Add([]byte("k"), int64(-3), uint32(7))
	f.Add([]byte{}, int64(math.MaxInt64), uint32(0))
	f.Fuzz(func(t *testing.T, key []byte, start int64, seq uint32) {
		k, s, q, err := SplitWindowKey(WindowKey(key, start, seq))
		if err != nil || string(k) != string(key) || s != start || q != seq {
			t.Fatalf("round trip: %q %d %d %v", k, s, q, err)
		}
		SplitWindowKey(key) // arbitrary bytes: an error or a split, never a panic
	})
}
