//go:build unix

package cluster

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ackWithin bounds the time from a produce to its acknowledgement, and
// from an acknowledgement to a consumer seeing the record, while the
// broker holds a thousand idle connections and a slow one. A correctness
// bound, not a benchmark: both take milliseconds when nothing is stuck.
const ackWithin = 2 * time.Second

// TestIdleConnectionsAndSlowLorisDoNotSlowOthers opens 1,000 TCP
// connections that send nothing and one that sends a request a byte a
// second, then produces and consumes through franz-go meanwhile.
func TestIdleConnectionsAndSlowLorisDoNotSlowOthers(t *testing.T) {
	const (
		idle  = 1000
		phase = 5 * time.Second // how long the workload runs alongside them
	)
	raiseOpenFiles(t, 2*idle+512) // both ends of every connection are in this process
	tb := startBroker(t, "", nil)
	p := createTopic(t, tb, "busy", 1, nil)[0]
	ctx := testCtx(t)
	base := trackedConns(tb)

	conns := make([]net.Conn, 0, idle)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range idle {
		c, err := net.DialTimeout("tcp", tb.addr(), 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	awaitTracked(t, tb, base+idle)

	// The slow loris: a Metadata request, one byte a second, until the
	// workload is done; then the rest at once, and it must be answered.
	loris := rawDial(t, tb)
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Version = 9
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("busy")
	mreq.Topics = append(mreq.Topics, mt)
	lorisFrame := requestFrame(mreq, 99)
	stopLoris, lorisSent := make(chan struct{}), make(chan int, 1)
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		n := 0
		defer func() { lorisSent <- n }()
		for n < len(lorisFrame)-1 {
			if _, err := loris.Write(lorisFrame[n : n+1]); err != nil {
				return
			}
			n++
			select {
			case <-stopLoris:
				return
			case <-tick.C:
			}
		}
	}()

	acked, slowest := produceAndConsume(ctx, t, tb, "busy", phase)
	t.Logf("%d records produced and consumed beside %d idle connections and a slow loris; slowest: %v", len(acked), idle, slowest)
	if len(acked) < 50 {
		t.Fatalf("only %d records in %v", len(acked), phase)
	}
	vals := storedValues(t, p)
	if len(vals) != len(acked) {
		t.Fatalf("log holds %d records, %d acknowledged", len(vals), len(acked))
	}

	// The idle connections were served all along, not left in the backlog.
	for _, i := range []int{0, idle / 2, idle - 1} {
		apiVersions(t, conns[i], 3)
	}
	close(stopLoris)
	sent := <-lorisSent
	if sent < 3 {
		t.Fatalf("slow loris sent %d bytes in %v", sent, phase)
	}
	rawWrite(t, loris, lorisFrame[sent:])
	mresp := kmsg.NewPtrMetadataResponse()
	mresp.Version = mreq.Version
	readResponse(t, loris, 99, mresp)
	if len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != 0 || len(mresp.Topics[0].Partitions) != 1 {
		t.Fatalf("slow loris's metadata: %+v", mresp.Topics)
	}

	// Everything closed: the broker lets go of every connection.
	for _, c := range conns {
		c.Close()
	}
	loris.Close()
	awaitTracked(t, tb, base)
}

// produceAndConsume produces records to topic one at a time with acks=all
// for d, each acknowledged within ackWithin, while a franz-go consumer
// reads them; every record must be consumed, in order, within ackWithin
// of its acknowledgement. It returns the acknowledgement times by offset
// and the slowest produce or consume.
func produceAndConsume(ctx context.Context, t *testing.T, tb *testBroker, topic string, d time.Duration) ([]time.Time, time.Duration) {
	t.Helper()
	prod := newClient(t, tb, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	// A short max wait: a parked fetch holds its connection until it ends,
	// which would delay the broker letting go of it at the end.
	cons := newClient(t, tb, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond))

	type seen struct {
		at  time.Time
		off int64
		val string
	}
	cctx, cancel := context.WithCancel(ctx)
	consumed := make(chan seen, 1<<16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for cctx.Err() == nil {
			fs := cons.PollFetches(cctx)
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) { consumed <- seen{now, r.Offset, string(r.Value)} })
		}
	}()
	defer func() {
		cancel()
		wg.Wait()
		prod.Close() // let go of their connections now, not at cleanup
		cons.Close()
	}()

	var acked []time.Time
	var slowest time.Duration
	for start := time.Now(); time.Since(start) < d; {
		i := len(acked)
		t0 := time.Now()
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		res := prod.ProduceSync(pctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)})
		pcancel()
		took := time.Since(t0)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if off := res[0].Record.Offset; off != int64(i) {
			t.Fatalf("record %d acknowledged at offset %d", i, off)
		}
		if took > ackWithin {
			t.Errorf("produce %d acknowledged after %v", i, took)
		}
		slowest = max(slowest, took)
		acked = append(acked, time.Now())
		time.Sleep(5 * time.Millisecond) // a steady trickle, not a benchmark
	}

	deadline := time.After(10 * time.Second)
	for i := range acked {
		select {
		case s := <-consumed:
			if s.off != int64(i) || s.val != fmt.Sprintf("r%d", i) {
				t.Fatalf("consumed %q at offset %d, want r%d at %d", s.val, s.off, i, i)
			}
			lag := s.at.Sub(acked[i])
			if lag > ackWithin {
				t.Errorf("record %d consumed %v after its acknowledgement", i, lag)
			}
			slowest = max(slowest, lag)
		case <-deadline:
			t.Fatalf("consumed %d of %d records", i, len(acked))
		}
	}
	return acked, slowest
}

// raiseOpenFiles makes sure this process may hold need file descriptors,
// raising its limit for the test, or skips the test.
func raiseOpenFiles(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot read the open files limit: %v", err)
	}
	if lim.Cur >= need {
		return
	}
	old := lim
	lim.Cur = need
	if lim.Max < need {
		lim.Max = need // only a privileged process may raise the hard limit
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("needs %d open files; the limit is %d (hard %d) and cannot be raised: %v", need, old.Cur, old.Max, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

func trackedConns(tb *testBroker) int {
	tb.conns.Lock()
	defer tb.conns.Unlock()
	return len(tb.conns.m)
}

// awaitTracked waits until the broker holds n connections.
func awaitTracked(t *testing.T, tb *testBroker, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for trackedConns(tb) != n {
		if time.Now().After(deadline) {
			t.Fatalf("broker holds %d connections, want %d", trackedConns(tb), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
