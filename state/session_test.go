package state

import (
	"fmt"
	"math"
	"testing"
)

func TestSessionStore(t *testing.T) {
	s := &SessionStore{KV: NewMemory()}
	put := func(k string, start, end int64) {
		t.Helper()
		if err := s.Put([]byte(k), start, end, []byte(fmt.Sprintf("%s%d-%d", k, start, end))); err != nil {
			t.Fatal(err)
		}
	}
	put("a", 0, 10)
	put("a", 30, 40)
	put("a", -20, -15)
	put("a", 12, 12)
	put("ab", 0, 100) // a key that extends "a" must not show in a's sessions
	put("b", 5, 6)
	find := func(k string, earliestEnd, latestStart int64) string {
		t.Helper()
		var out []string
		if err := s.Find([]byte(k), earliestEnd, latestStart, func(start, end int64, v []byte) bool {
			out = append(out, string(v))
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		k                        string
		earliestEnd, latestStart int64
		want                     string
	}{
		{"a", math.MinInt64, math.MaxInt64, "[a-20--15 a0-10 a12-12 a30-40]"},
		{"a", 10, 12, "[a0-10 a12-12]"},  // a record at 11 with gap 1
		{"a", 11, 29, "[a12-12]"},        // touches neither neighbour
		{"a", 13, 29, "[]"},              // the gap between sessions
		{"a", 35, 35, "[a30-40]"},        // inside a session
		{"a", -16, -16, "[a-20--15]"},    // negative times
		{"ab", 50, 50, "[ab0-100]"},      // spans the range
		{"c", math.MinInt64, 1000, "[]"}, // no such key
	} {
		if got := find(tc.k, tc.earliestEnd, tc.latestStart); got != tc.want {
			t.Errorf("Find(%s, %d, %d) = %s, want %s", tc.k, tc.earliestEnd, tc.latestStart, got, tc.want)
		}
	}
	if v, ok, err := s.Get([]byte("a"), 30, 40); err != nil || !ok || string(v) != "a30-40" {
		t.Errorf("Get = %q %v %v", v, ok, err)
	}
	if err := s.Delete([]byte("a"), 30, 40); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get([]byte("a"), 30, 40); ok {
		t.Error("Delete left the session")
	}
	if n, err := s.Expire(11); err != nil || n != 3 {
		t.Fatalf("Expire(11) = %d, %v; want 3 sessions", n, err)
	}
	var all []string
	if err := s.All(func(k []byte, start, end int64, _ []byte) bool {
		all = append(all, fmt.Sprintf("%s[%d,%d]", k, start, end))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(all) != "[a[12,12] ab[0,100]]" {
		t.Errorf("after Expire(11): %v", all)
	}
}

func FuzzSplitSessionKey(f *testing.F) {
	f.Add([]byte("user-1"), int64(-3), int64(7))
	f.Add([]byte{}, int64(math.MinInt64), int64(math.MaxInt64))
	f.Add([]byte{0, 0, 0, 1, 'x'}, int64(0), int64(0))
	f.Fuzz(func(t *testing.T, key []byte, start, end int64) {
		k, s, e, err := SplitSessionKey(SessionKey(key, start, end))
		if err != nil || string(k) != string(key) || s != start || e != end {
			t.Fatalf("round trip: %q %d %d %v", k, s, e, err)
		}
		SplitSessionKey(key) // arbitrary bytes: an error or a split, never a panic
	})
}
