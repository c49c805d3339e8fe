package main

import (
	"testing"
	"time"

	"github.com/runnel-io/runnel/stream/serde"
	"github.com/runnel-io/runnel/stream/streamtest"
)

func TestWordCount(t *testing.T) {
	topo, err := Topology()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streamtest.New(topo, streamtest.AppID("wordcount"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := streamtest.Input(d, InputTopic, serde.String, serde.String)
	now := time.Now()
	for _, line := range []string{"The quick brown fox", "jumps over the lazy dog.", "THE END, the end"} {
		if err := in.PipeNullKey(line, now); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := streamtest.Latest(streamtest.Output(d, OutputTopic, serde.String, serde.Int64))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"the": 4, "quick": 1, "brown": 1, "fox": 1, "jumps": 1, "over": 1, "lazy": 1, "dog": 1, "end": 2}
	if len(counts) != len(want) {
		t.Fatalf("counts %v, want %v", counts, want)
	}
	for w, n := range want {
		if counts[w] != n {
			t.Errorf("%q: %d, want %d", w, counts[w], n)
		}
	}
}
