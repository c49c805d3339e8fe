package cluster

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	rlog "github.com/runnel-io/runnel/log"
)

func TestProduceAutoCreate(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb, kgo.DefaultProduceTopic("auto"), kgo.AllowAutoTopicCreation(), kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx := testCtx(t)
	for i := 0; i < 100; i++ {
		r := &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}
		res := cl.ProduceSync(ctx, r)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if got := res[0].Record.Offset; got != int64(i) {
			t.Fatalf("record %d acknowledged at offset %d", i, got)
		}
	}
	p, ok := tb.topics.partition("auto", 0)
	if !ok {
		t.Fatal("topic auto was not created")
	}
	if p.log.EndOffset() != 100 || p.log.HighWatermark() != 100 {
		t.Fatalf("log end %d, high watermark %d; want 100", p.log.EndOffset(), p.log.HighWatermark())
	}
	buf, err := p.log.ReadBatches(0, 1<<20, 100)
	if err != nil {
		t.Fatal(err)
	}
	it := rlog.NewBatchIter(buf)
	n := 0
	for h, b, ok := it.Next(); ok; h, b, ok = it.Next() {
		_, recs, err := rlog.DecodeRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if want := fmt.Sprintf("v%d", n); string(r.Value) != want || h.BaseOffset+int64(r.OffsetDelta) != int64(n) {
				t.Fatalf("offset %d holds %q", n, r.Value)
			}
			n++
		}
	}
	if n != 100 {
		t.Fatalf("log holds %d records, want 100", n)
	}
}
