package cluster

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

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

// TestMetadataNodeID: a broker with a node id other than 0 names itself
// as leader, replica and in-sync replica of every partition.
func TestMetadataNodeID(t *testing.T) {
	tb := startBroker(t, "", func(c *Config) { c.NodeID = 3 })
	cl := newClient(t, tb)
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("nodes")
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 3 || resp.ControllerID != 3 {
		t.Fatalf("brokers %+v, controller %d", resp.Brokers, resp.ControllerID)
	}
	var found bool
	for _, mt := range resp.Topics {
		if mt.Topic == nil || *mt.Topic != "nodes" {
			continue
		}
		found = true
		for _, p := range mt.Partitions {
			if p.Leader != 3 || len(p.Replicas) != 1 || p.Replicas[0] != 3 || len(p.ISR) != 1 || p.ISR[0] != 3 {
				t.Fatalf("partition %d: leader %d replicas %v isr %v", p.Partition, p.Leader, p.Replicas, p.ISR)
			}
		}
	}
	if !found {
		t.Fatal("topic nodes missing from metadata")
	}
}

// TestHandlerPanicClosesOnlyItsConnection: a handler that panics closes
// its connection and is logged; the broker goes on serving others.
func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	const key = 60 // DescribeCluster
	orig := apis[key]
	t.Cleanup(func() { apis[key] = orig })
	apis[key] = apiSpec{min: orig.min, max: orig.max, handle: func(*Broker, *clientConn, requestHeader, kmsg.Request) (kmsg.Response, error) {
		panic("boom")
	}}
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb, kgo.DefaultProduceTopic("alive"), kgo.AllowAutoTopicCreation())
	ctx := testCtx(t)
	if _, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl); err == nil {
		t.Fatal("a panicking handler answered")
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("still here")}).FirstErr(); err != nil {
		t.Fatalf("produce after a handler panic: %v", err)
	}
	if !strings.Contains(tb.logs.String(), "handler panicked") {
		t.Fatal("the panic was not logged")
	}
}
