package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runnel-io/runnel/log/vfs"
)

func wantEpochs(t testing.TB, l *Log, want []EpochEntry) {
	t.Helper()
	if got := l.LeaderEpochs(); !slices.Equal(got, want) {
		t.Fatalf("leader epochs %v, want %v", got, want)
	}
}

// epochOp is one step of an epoch table test, written as text:
// "append E N" appends a batch of N records with leader epoch E,
// "assign E" calls AssignEpoch, "roll" seals the active segment,
// "truncate O" calls TruncateTo and "delete O" commits everything and
// calls DeleteRecords.
type epochOp string

func (op epochOp) apply(t *testing.T, l *Log) {
	t.Helper()
	var a, b int64
	switch f := strings.Fields(string(op)); {
	case f[0] == "roll":
		logRoll(t, l)
	case f[0] == "append" && scanInts(t, f[1:], &a, &b):
		logAppend(t, l, testBatch(t, CompressionNone, int(b), 1000), int32(a))
	case f[0] == "assign" && scanInts(t, f[1:], &a):
		if err := l.AssignEpoch(int32(a)); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	case f[0] == "truncate" && scanInts(t, f[1:], &a):
		if err := l.TruncateTo(a); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	case f[0] == "delete" && scanInts(t, f[1:], &a):
		logCommit(l)
		if err := l.DeleteRecords(a); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	default:
		t.Fatalf("bad op %q", op)
	}
}

func scanInts(t *testing.T, f []string, out ...*int64) bool {
	t.Helper()
	if len(f) != len(out) {
		t.Fatalf("want %d numbers in %q", len(out), f)
	}
	for i, s := range f {
		if _, err := fmt.Sscan(s, out[i]); err != nil {
			t.Fatalf("bad number %q", s)
		}
	}
	return true
}

// epochQuery is an OffsetForLeaderEpoch question and Kafka's answer.
type epochQuery struct {
	epoch     int32
	wantEpoch int32
	wantEnd   int64
}

func TestEpochCacheThroughLog(t *testing.T) {
	undef := func(e int32) epochQuery { return epochQuery{e, UndefinedEpoch, UndefinedEpochOffset} }
	tests := []struct {
		name    string
		ops     []epochOp
		want    []EpochEntry
		end     int64
		queries []epochQuery
	}{{
		name:    "empty log",
		queries: []epochQuery{undef(-1), undef(0), undef(3)},
	}, {
		name:    "records without an epoch",
		ops:     []epochOp{"append -1 5"},
		end:     5,
		queries: []epochQuery{undef(0), undef(-1)},
	}, {
		name: "one epoch",
		ops:  []epochOp{"append 1 10"},
		want: []EpochEntry{{1, 0}},
		end:  10,
		queries: []epochQuery{
			{1, 1, 10}, // the latest epoch ends at the log end
			{0, 0, 0},  // below the first: (requested, first start)
			undef(2),   // above the latest
			undef(-1),
		},
	}, {
		name: "several epochs",
		ops:  []epochOp{"append 1 10", "append 3 3", "append 3 2", "append 5 5"},
		want: []EpochEntry{{1, 0}, {3, 10}, {5, 15}},
		end:  20,
		queries: []epochQuery{
			{5, 5, 20},
			{4, 3, 15}, // between: (floor epoch, next epoch's start)
			{3, 3, 15},
			{2, 1, 10},
			{1, 1, 10},
			{0, 0, 0},
			undef(6),
			undef(1 << 30),
		},
	}, {
		name:    "AssignEpoch starts an epoch at the log end",
		ops:     []epochOp{"append 1 10", "assign 2", "append 2 5", "append 2 5"},
		want:    []EpochEntry{{1, 0}, {2, 10}},
		end:     20,
		queries: []epochQuery{{2, 2, 20}, {1, 1, 10}, {0, 0, 0}},
	}, {
		name: "AssignEpoch twice at one offset: the later replaces the earlier",
		ops:  []epochOp{"append 1 4", "assign 2", "assign 3", "append 3 1"},
		want: []EpochEntry{{1, 0}, {3, 4}},
		end:  5,
		queries: []epochQuery{
			{2, 1, 4},
			{3, 3, 5},
		},
	}, {
		name:    "AssignEpoch of a known epoch is a no-op",
		ops:     []epochOp{"append 1 4", "assign 1", "append 2 1", "assign 2", "assign 1"},
		want:    []EpochEntry{{1, 0}, {2, 4}},
		end:     5,
		queries: []epochQuery{{1, 1, 4}, {2, 2, 5}},
	}, {
		name:    "a batch with an older epoch does not rewrite the cache",
		ops:     []epochOp{"append 3 4", "append 2 4"},
		want:    []EpochEntry{{3, 0}},
		end:     8,
		queries: []epochQuery{{3, 3, 8}, {2, 2, 0}},
	}, {
		name:    "an empty epoch (a leader that wrote nothing)",
		ops:     []epochOp{"append 1 4", "assign 2", "assign 4", "append 4 2", "assign 6"},
		want:    []EpochEntry{{1, 0}, {4, 4}, {6, 6}},
		end:     6,
		queries: []epochQuery{{2, 1, 4}, {3, 1, 4}, {4, 4, 6}, {5, 4, 6}, {6, 6, 6}},
	}, {
		name:    "truncation forgets epochs starting at or after the new end",
		ops:     []epochOp{"append 1 10", "append 2 10", "append 3 10", "truncate 20"},
		want:    []EpochEntry{{1, 0}, {2, 10}},
		end:     20,
		queries: []epochQuery{{2, 2, 20}, {1, 1, 10}, undef(3)},
	}, {
		name:    "truncation mid-batch drops the batch's epoch",
		ops:     []epochOp{"append 1 10", "append 2 5", "append 3 5", "truncate 12"},
		want:    []EpochEntry{{1, 0}},
		end:     10,
		queries: []epochQuery{{1, 1, 10}, undef(2)},
	}, {
		name:    "truncation inside an epoch keeps it",
		ops:     []epochOp{"append 1 5", "append 2 5", "append 2 5", "truncate 10"},
		want:    []EpochEntry{{1, 0}, {2, 5}},
		end:     10,
		queries: []epochQuery{{2, 2, 10}},
	}, {
		name:    "truncation to the start forgets everything",
		ops:     []epochOp{"append 1 5", "append 2 5", "truncate 0"},
		end:     0,
		queries: []epochQuery{undef(1)},
	}, {
		name: "append after truncation starts the new epoch",
		ops:  []epochOp{"append 1 5", "append 2 5", "truncate 5", "append 3 2"},
		want: []EpochEntry{{1, 0}, {3, 5}},
		end:  7,
		queries: []epochQuery{
			{2, 1, 5}, // a diverging follower on epoch 2 truncates to 5
			{3, 3, 7},
		},
	}, {
		name:    "DeleteRecords inside one segment moves the first epoch's start",
		ops:     []epochOp{"append 1 10", "append 2 10", "append 3 10", "delete 15"},
		want:    []EpochEntry{{2, 15}, {3, 20}},
		end:     30,
		queries: []epochQuery{{1, 1, 15}, {2, 2, 20}, {3, 3, 30}},
	}, {
		name:    "DeleteRecords removing segments",
		ops:     []epochOp{"append 1 10", "roll", "append 2 10", "roll", "append 3 10", "delete 25"},
		want:    []EpochEntry{{3, 25}},
		end:     30,
		queries: []epochQuery{{2, 2, 25}, {3, 3, 30}},
	}, {
		name:    "DeleteRecords at an epoch's start",
		ops:     []epochOp{"append 1 10", "roll", "append 2 10", "roll", "append 3 10", "delete 10"},
		want:    []EpochEntry{{2, 10}, {3, 20}},
		end:     30,
		queries: []epochQuery{{1, 1, 10}, {2, 2, 20}},
	}, {
		name:    "DeleteRecords to the end keeps the latest epoch",
		ops:     []epochOp{"append 1 10", "roll", "append 2 10", "roll", "delete 20"},
		want:    []EpochEntry{{2, 20}},
		end:     20,
		queries: []epochQuery{{2, 2, 20}, {1, 1, 20}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTestLog(t, dir, WithConfig(smallConfig()))
			for _, op := range tt.ops {
				op.apply(t, l)
			}
			check := func(l *Log, want []EpochEntry) {
				t.Helper()
				wantEpochs(t, l, want)
				if l.EndOffset() != tt.end {
					t.Fatalf("end %d, want %d", l.EndOffset(), tt.end)
				}
				for _, q := range tt.queries {
					if len(want) != len(tt.want) {
						break // the answers are for the entries before the restart
					}
					e, off := l.EndOffsetForEpoch(q.epoch)
					if e != q.wantEpoch || off != q.wantEnd {
						t.Errorf("EndOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", q.epoch, e, off, q.wantEpoch, q.wantEnd)
					}
				}
			}
			check(l, tt.want)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			// The checkpoint file holds the entries, in Kafka's format.
			path := filepath.Join(dir, epochFile)
			data, err := os.ReadFile(path)
			switch {
			case errors.Is(err, os.ErrNotExist):
				if len(tt.want) != 0 {
					t.Fatalf("no checkpoint file for %v", tt.want)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if string(data) != string(formatEpochCheckpoint(tt.want)) {
					t.Fatalf("checkpoint file:\n%s\nwant:\n%s", data, formatEpochCheckpoint(tt.want))
				}
			}
			// Open forgets an epoch that starts at the log end, as Kafka's
			// LogLoader does (truncateFromEnd(logEndOffset)): it wrote nothing.
			reopened := slices.DeleteFunc(slices.Clone(tt.want), func(e EpochEntry) bool { return e.StartOffset >= tt.end })
			l = openTestLog(t, dir, WithConfig(smallConfig()))
			defer l.Close()
			check(l, reopened)
		})
	}
}

func TestEpochCheckpointFormat(t *testing.T) {
	entries := []EpochEntry{{0, 0}, {3, 100}, {7, 100}, {1 << 30, 1 << 40}}
	data := formatEpochCheckpoint(entries)
	if want := "0\n4\n0 0\n3 100\n7 100\n1073741824 1099511627776\n"; string(data) != want {
		t.Fatalf("format: %q", data)
	}
	got, err := parseEpochCheckpoint(data)
	if err != nil || !slices.Equal(got, entries) {
		t.Fatalf("parse: %v, %v", got, err)
	}
	if got, err := parseEpochCheckpoint([]byte("0\n0\n")); err != nil || len(got) != 0 {
		t.Fatalf("empty checkpoint: %v, %v", got, err)
	}
}

func TestEpochCorruptCheckpointFailsOpen(t *testing.T) {
	for _, data := range []string{
		"",
		"garbage",
		"1\n0\n",               // unknown version
		"0\n",                  // no count
		"0\nx\n",               // bad count
		"0\n-1\n",              // negative count
		"0\n2\n1 0\n",          // fewer lines than the count
		"0\n1\n1 0\n2 5\n",     // more lines than the count
		"0\n1\n1\n",            // one field
		"0\n1\n1 0 0\n",        // three fields
		"0\n1\n-1 0\n",         // negative epoch
		"0\n1\n1 -5\n",         // negative offset
		"0\n1\n3000000000 0\n", // epoch over int32
		"0\n1\nx 0\n",
		"0\n2\n2 10\n1 20\n", // epochs going backwards
		"0\n2\n1 10\n1 20\n", // a repeated epoch
		"0\n2\n1 20\n2 10\n", // offsets going backwards
		"0\n1\n1 0\n\n",      // a blank line
	} {
		t.Run(fmt.Sprintf("%q", data), func(t *testing.T) {
			dir := t.TempDir()
			l := openTestLog(t, dir, WithConfig(smallConfig()))
			logAppend(t, l, testBatch(t, CompressionNone, 3, 1), 1)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, epochFile), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			logger, _ := quietLogger(t)
			l, err := Open(dir, WithConfig(smallConfig()), WithLogger(logger))
			if err == nil {
				l.Close()
				t.Fatalf("Open accepted a corrupt checkpoint")
			}
			if !errors.Is(err, ErrCorruptCheckpoint) || !strings.Contains(err.Error(), epochFile) {
				t.Fatalf("Open: %v, want ErrCorruptCheckpoint naming the file", err)
			}
		})
	}
}

// TestEpochCheckpointBeyondLogEnd: a checkpoint ahead of the log (written
// before a crash cut the log's tail) is truncated to the log on Open.
func TestEpochCheckpointBeyondLogEnd(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, WithConfig(smallConfig()))
	logAppend(t, l, testBatch(t, CompressionNone, 5, 1), 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries := []EpochEntry{{1, 0}, {2, 5}, {3, 9}}
	if err := vfs.WriteFileAtomic(vfs.Default, filepath.Join(dir, epochFile), formatEpochCheckpoint(entries)); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, WithConfig(smallConfig()))
	defer l.Close()
	wantEpochs(t, l, []EpochEntry{{1, 0}})
	if e, off := l.EndOffsetForEpoch(1); e != 1 || off != 5 {
		t.Fatalf("EndOffsetForEpoch(1) = (%d, %d)", e, off)
	}
}

// FuzzEpochCheckpoint: parseEpochCheckpoint never panics; what it accepts
// has strictly increasing epochs and non-decreasing, non-negative offsets,
// and formats back to a file that parses to the same entries.
func FuzzEpochCheckpoint(f *testing.F) {
	for _, s := range []string{
		"0\n0\n",
		"0\n1\n0 0\n",
		"0\n3\n1 0\n3 100\n7 100\n",
		"0\n2\n2 10\n1 20\n",
		"0\n1\n2147483647 9223372036854775807\n",
		"0\n1\n2147483648 0\n",
		"0\n1\n+1 +2\n",
		"0\n1\n 1\t2 \n",
		"0\n00\n",
		"",
		"0",
		"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseEpochCheckpoint(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptCheckpoint) {
				t.Fatalf("error %v does not wrap ErrCorruptCheckpoint", err)
			}
			return
		}
		for i, e := range entries {
			if e.Epoch < 0 || e.StartOffset < 0 {
				t.Fatalf("entry %d negative: %v", i, e)
			}
			if i > 0 && (e.Epoch <= entries[i-1].Epoch || e.StartOffset < entries[i-1].StartOffset) {
				t.Fatalf("entries not increasing at %d: %v", i, entries)
			}
		}
		out := formatEpochCheckpoint(entries)
		again, err := parseEpochCheckpoint(out)
		if err != nil {
			t.Fatalf("formatted %v does not parse: %v\n%q", entries, err, out)
		}
		if !slices.Equal(again, entries) && !(len(again) == 0 && len(entries) == 0) {
			t.Fatalf("round trip: %v became %v", entries, again)
		}
		if string(formatEpochCheckpoint(again)) != string(out) {
			t.Fatalf("format is not stable: %q", out)
		}
	})
}
