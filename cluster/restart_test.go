package cluster_test

// Restart tests run the real runnel binary (built once per test into its
// temp dir) as a separate process, so that SIGKILL is a real crash: nothing
// of the broker's shutdown runs, and only what reached the kernel survives.
// The race detector instruments this test process, not the broker binary.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// buildRunnel builds the runnel binary into a temp dir.
func buildRunnel(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the broker binary")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "runnel")
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/runnel-io/runnel/ops/cmd/runnel")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// brokerProc is one run of the broker binary.
type brokerProc struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{} // closed once Wait returned
	err    error         // Wait's result, set before exited closes

	mu    sync.Mutex
	lines []string
}

var readyLine = regexp.MustCompile(`msg="runnel broker ready" addr=(\S+)`)

// startProc starts the broker on listen with its data in dir and waits
// for its ready line. The process is SIGKILLed at the end of the test if
// it is still running.
func startProc(t *testing.T, bin, dir, listen string) *brokerProc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &brokerProc{exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "broker", "--listen", listen, "--data-dir", dir, "--num-partitions", "2")
	p.cmd.Stderr = w
	// Keep the environment from setting broker flags.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RUNNEL_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ready := make(chan string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
		r.Close()
	}()
	go func() {
		p.err = p.cmd.Wait()
		// exited means the log is complete too: the reader has seen
		// the pipe's end (the process's last line).
		<-logDone
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("broker pid %d log:\n%s", p.cmd.Process.Pid, p.log())
		}
	})
	select {
	case p.addr = <-ready:
	case <-p.exited:
		t.Fatalf("broker exited before it was ready: %v\n%s", p.err, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("broker not ready after 30s:\n%s", p.log())
	}
	return p
}

func (p *brokerProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// kill SIGKILLs the broker and waits for it to be gone.
func (p *brokerProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// stop SIGTERMs the broker and returns its exit error (nil for status 0).
func (p *brokerProc) stop(t *testing.T) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(30 * time.Second):
		t.Fatalf("broker still running 30s after SIGTERM:\n%s", p.log())
		return nil
	}
}

func restartCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newProducer is an idempotent franz-go producer with acks=all (franz-go's
// defaults, spelled out) that retries as long as the context allows.
func newProducer(t *testing.T, addr, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.ProducerLinger(2 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// endOffsets asks the broker for the log end offset of each partition.
func endOffsets(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, partitions int32) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < partitions; p++ {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1 // latest
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	ends := map[int32]int64{}
	for _, st := range resp.Topics {
		for _, sp := range st.Partitions {
			if err := kerr.ErrorForCode(sp.ErrorCode); err != nil {
				t.Fatalf("list offsets %s-%d: %v", topic, sp.Partition, err)
			}
			ends[sp.Partition] = sp.Offset
		}
	}
	if len(ends) != int(partitions) {
		t.Fatalf("list offsets answered %d partitions, want %d", len(ends), partitions)
	}
	return ends
}

// consumeAll reads every partition of topic from its start up to its end
// offset (from ListOffsets), without a consumer group.
func consumeAll(ctx context.Context, t *testing.T, addr, topic string, partitions int32) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends := endOffsets(ctx, t, cl, topic, partitions)
	offsets := map[int32]kgo.Offset{}
	remaining := 0
	for p, end := range ends {
		if end > 0 {
			offsets[p] = kgo.NewOffset().AtStart()
			remaining++
		}
	}
	if remaining == 0 {
		return nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})
	var recs []*kgo.Record
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: %v; read %d records, ends %v", topic, ctx.Err(), len(recs), ends)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("consume %s-%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, r)
			if r.Offset == ends[r.Partition]-1 {
				remaining--
			}
		})
	}
	return recs
}

// inDoubtHook counts produce requests written to the broker whose response
// never came back.
type inDoubtHook struct{ n *atomic.Int64 }

func (h inDoubtHook) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key == 0 && e2e.WriteErr == nil && e2e.ReadErr != nil {
		h.n.Add(1)
	}
}

type acked struct {
	partition int32
	offset    int64
}

// TestRestartAfterSIGKILLKeepsAckedRecords: every record acknowledged with
// acks=all before a SIGKILL is there after the restart, at the offset it
// was acknowledged at, and nothing else is.
func TestRestartAfterSIGKILLKeepsAckedRecords(t *testing.T) {
	bin := buildRunnel(t)
	dir := t.TempDir()
	ctx := restartCtx(t)
	p := startProc(t, bin, dir, "127.0.0.1:0")
	const topic, n = "crash", 3000
	cl := newProducer(t, p.addr, topic)
	want := map[acked]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%17), Value: fmt.Appendf(nil, "v%d", i)}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("produce %s: %v", r.Value, err)
				return
			}
			mu.Lock()
			want[acked{r.Partition, r.Offset}] = string(r.Value)
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	p.kill(t)
	cl.Close()

	p2 := startProc(t, bin, dir, "127.0.0.1:0")
	got := consumeAll(ctx, t, p2.addr, topic, 2)
	if len(got) != n {
		t.Errorf("read %d records after the restart, %d were acknowledged", len(got), n)
	}
	for _, r := range got {
		v, ok := want[acked{r.Partition, r.Offset}]
		if !ok || v != string(r.Value) {
			t.Fatalf("partition %d offset %d holds %q, acknowledged %q (%v)", r.Partition, r.Offset, r.Value, v, ok)
		}
		delete(want, acked{r.Partition, r.Offset})
	}
	if len(want) > 0 {
		t.Fatalf("%d acknowledged records missing after the restart", len(want))
	}
}

// TestRestartIdempotentProducerNoDuplicates kills the broker while an
// idempotent producer has batches in flight and keeps producing; the
// producer retries them (same producer id, epoch and sequences) against
// the restarted broker. Every value ends up in the log exactly once, and
// every acknowledged one is there.
func TestRestartIdempotentProducerNoDuplicates(t *testing.T) {
	bin := buildRunnel(t)
	dir := t.TempDir()
	ctx := restartCtx(t)
	p := startProc(t, bin, dir, "127.0.0.1:0")
	addr := p.addr
	const topic = "retry"
	// Small batches and a short request timeout: many batches in flight at
	// the kill, and retries that start soon after the restart.
	var inDoubt atomic.Int64
	cl := newProducer(t, addr, topic, kgo.MaxBufferedRecords(2000), kgo.ProducerBatchMaxBytes(4096),
		kgo.ProduceRequestTimeout(5*time.Second), kgo.RecordDeliveryTimeout(40*time.Second),
		kgo.WithHooks(inDoubtHook{&inDoubt}))

	var (
		mu      sync.Mutex
		ackedN  int
		ackedV  = map[string]bool{}
		failed  []error
		issued  int
		wg      sync.WaitGroup
		stop    = make(chan struct{})
		stopped = make(chan struct{})
	)
	acks := func() int {
		mu.Lock()
		defer mu.Unlock()
		return ackedN
	}
	go func() { // the producer loop: runs until stop, bounded by ctx
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			wg.Add(1)
			mu.Lock()
			issued++
			mu.Unlock()
			cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%06d", i)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, fmt.Errorf("%s: %w", r.Value, err))
					return
				}
				ackedN++
				ackedV[string(r.Value)] = true
			})
			if i%50 == 49 {
				time.Sleep(time.Millisecond) // let batches go out between bursts
			}
		}
	}()
	waitAcks := func(n int) {
		t.Helper()
		for acks() < n {
			select {
			case <-ctx.Done():
				t.Fatalf("only %d records acknowledged, waiting for %d", acks(), n)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	// Kill and restart until a produce request was sent and its answer lost
	// (the broker may or may not have written it): the case where only the
	// sequence numbers prevent a duplicate.
	var p2 *brokerProc
	kills := 0
	for kills < 5 && (kills == 0 || inDoubt.Load() == 0) {
		waitAcks(acks() + 1500)
		p.kill(t)
		kills++
		time.Sleep(300 * time.Millisecond) // the producer sees the failures and retries
		p2 = startProc(t, bin, dir, addr)  // same address: the producer's seed broker
		p = p2
	}
	waitAcks(acks() + 1500)
	close(stop)
	<-stopped
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	wg.Wait()
	cl.Close()
	if len(failed) > 0 {
		t.Errorf("%d of %d records failed, first: %v", len(failed), issued, failed[0])
	}

	got := consumeAll(ctx, t, p2.addr, topic, 2)
	seen := map[string]int64{}
	for _, r := range got {
		if r.ProducerID < 0 {
			t.Fatalf("record %s at %d-%d has no producer id: not produced idempotently", r.Value, r.Partition, r.Offset)
		}
		if prev, dup := seen[string(r.Value)]; dup {
			t.Errorf("%s written twice: offsets %d and %d-%d", r.Value, prev, r.Partition, r.Offset)
		}
		seen[string(r.Value)] = r.Offset
	}
	for v := range ackedV {
		if _, ok := seen[v]; !ok {
			t.Errorf("acknowledged %s is missing", v)
		}
	}
	if inDoubt.Load() == 0 {
		t.Errorf("no produce request was in flight at any of %d kills: the retry of a written batch went untested", kills)
	}
	t.Logf("%d kills, %d produce requests in doubt; %d records issued, %d acknowledged, %d in the log",
		kills, inDoubt.Load(), issued, len(ackedV), len(got))
}

// TestRestartAfterCleanStop: SIGTERM stops the broker with status 0 and a
// stop line, and the next start recovers nothing: no log truncation, no
// index rebuilt, every record there.
func TestRestartAfterCleanStop(t *testing.T) {
	bin := buildRunnel(t)
	dir := t.TempDir()
	ctx := restartCtx(t)
	p := startProc(t, bin, dir, "127.0.0.1:0")
	const topic, n = "clean", 500
	cl := newProducer(t, p.addr, topic)
	for i := 0; i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := p.stop(t); err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		t.Fatalf("broker exit after SIGTERM: %v\n%s", err, p.log())
	}
	for _, want := range []string{`msg="runnel broker stopping"`, `msg="runnel broker stopped"`} {
		if !strings.Contains(p.log(), want) {
			t.Errorf("log has no %s line:\n%s", want, p.log())
		}
	}

	p2 := startProc(t, bin, dir, "127.0.0.1:0")
	if got := consumeAll(ctx, t, p2.addr, topic, 2); len(got) != n {
		t.Errorf("read %d records after a clean restart, want %d", len(got), n)
	}
	if err := p2.stop(t); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	// The log package's recovery warnings, and any error.
	for _, bad := range []string{"truncating", "rebuilding index", "removing segment", "level=ERROR"} {
		if strings.Contains(p2.log(), bad) {
			t.Errorf("restart after a clean stop logged %q:\n%s", bad, p2.log())
		}
	}
}
