package main

// The harness of the tests that run the clickstream binary against a
// broker: the binary built once, instances as child processes whose task
// events are read from their stderr, a known data set, and waits on the
// application's committed offsets.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/examples/internal/launch"
)

const appID = "clickstream"

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// binary builds the clickstream command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		start := time.Now()
		if build.dir, build.err = os.MkdirTemp("", "clickstream-e2e-"); build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "clickstream")
		out, err := exec.Command(goTool(), "build", "-o", build.bin, ".").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
		t.Logf("built %s in %v", build.bin, time.Since(start).Round(time.Millisecond))
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// taskEvent is a "tasks <kind> <ids>" line of an instance.
type taskEvent struct {
	kind  string
	tasks []string
}

// instance is a clickstream process. Its stderr (logs and task events) is
// read line by line; the whole of it is logged if the test fails.
type instance struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited

	mu struct {
		sync.Mutex
		lines  []string
		events []taskEvent
	}
}

// startInstance runs the binary against brokers. It is stopped (SIGTERM,
// then SIGKILL after 10 s) when the test ends.
func startInstance(t *testing.T, bin, name string, brokers []string, extra ...string) *instance {
	t.Helper()
	args := append([]string{"--brokers", strings.Join(brokers, ","), "--app-id", appID,
		"--commit-interval", "200ms", "--log-level", "info"}, extra...)
	in := &instance{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	stderr, err := in.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		in.read(stderr)
		in.cmd.Wait()
		close(in.done)
	}()
	t.Cleanup(func() {
		in.stop()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", in.name, strings.Join(in.lines(), "\n"))
		}
	})
	return in
}

func (in *instance) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		in.mu.Lock()
		in.mu.lines = append(in.mu.lines, line)
		if kind, tasks, ok := launch.ParseTaskEvent(line); ok {
			in.mu.events = append(in.mu.events, taskEvent{kind, tasks})
		}
		in.mu.Unlock()
	}
}

func (in *instance) stop() {
	select {
	case <-in.done:
		return
	default:
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(10 * time.Second):
		in.cmd.Process.Kill()
		<-in.done
	}
}

// kill SIGKILLs the instance and waits for it to die.
func (in *instance) kill(t *testing.T) {
	t.Helper()
	if err := in.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-in.done
}

func (in *instance) lines() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.mu.lines)
}

// events returns the task events from the n-th on.
func (in *instance) events(n int) []taskEvent {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.mu.events[min(n, len(in.mu.events)):])
}

// tasks returns the instance's current tasks, replaying its events.
func (in *instance) tasks() map[string]bool {
	return applyEvents(map[string]bool{}, in.events(0))
}

func applyEvents(set map[string]bool, events []taskEvent) map[string]bool {
	for _, e := range events {
		for _, id := range e.tasks {
			if e.kind == "assigned" {
				set[id] = true
			} else {
				delete(set, id)
			}
		}
	}
	return set
}

// waitFor polls cond every 50 ms until it holds, or fails the test after
// timeout, saying what was awaited.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitBalanced waits until every instance has tasks, no task is on two
// of them, and together they hold the tasks of all sub-topologies
// (numTasks).
func waitBalanced(t *testing.T, numTasks int, ins ...*instance) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d tasks spread over %d instances", numTasks, len(ins)), func() bool {
		seen := map[string]bool{}
		for _, in := range ins {
			ts := in.tasks()
			if len(ts) == 0 {
				return false
			}
			for id := range ts {
				if seen[id] {
					return false
				}
				seen[id] = true
			}
		}
		return len(seen) == numTasks
	})
}

// click is a click of the data set.
type click struct {
	user, page string
	ts         time.Time
}

// dataset is a known input: users, then clicks in segments. Each
// segment spans segmentSpan of event time, and the next one is written
// only once the application has processed it (waitProcessed on the
// source topics), so that no click arrives at the windowed count after a
// click more than segmentSpan+outOfOrder newer, whichever instance
// processes which partition: none is later than the 10 s of grace, and
// the exact counts are known.
type dataset struct {
	users    map[string]User
	segments [][]click
	closing  []click // far in the future: they close every window
}

const (
	segmentSpan     = 6 * time.Second
	clicksPerSecond = 4
	outOfOrder      = 3 * time.Second // every 6th click is this much older
)

// dataStart is 30 s before a minute boundary.
var dataStart = time.Date(2026, 1, 1, 9, 59, 30, 0, time.UTC)

var testPages = []string{"/", "/pricing", "/docs", "/blog", "/signup"}

// makeDataset makes 24 users in 3 regions and segments of clicks from
// dataStart on; users u24 and u25 click but are not in the table.
func makeDataset(segments int) dataset {
	rnd := rand.New(rand.NewPCG(5, 5))
	regions := []string{"eu", "us", "apac"}
	d := dataset{users: map[string]User{}}
	for i := range 24 {
		d.users[fmt.Sprintf("u%02d", i)] = User{Name: fmt.Sprintf("user %d", i), Region: regions[i%3]}
	}
	per := int(segmentSpan/time.Second) * clicksPerSecond
	step := segmentSpan / time.Duration(per)
	for s := range segments {
		start := dataStart.Add(time.Duration(s) * segmentSpan)
		var seg []click
		for i := range per {
			ts := start.Add(time.Duration(i) * step)
			if i%6 == 1 {
				ts = ts.Add(-outOfOrder)
			}
			seg = append(seg, click{user: fmt.Sprintf("u%02d", rnd.IntN(26)), page: testPages[rnd.IntN(len(testPages))], ts: ts})
		}
		d.segments = append(d.segments, seg)
	}
	future := dataStart.Add(24 * time.Hour)
	for i := range 24 { // every page, and (very likely) every partition
		d.closing = append(d.closing, click{user: fmt.Sprintf("u%02d", i), page: testPages[i%len(testPages)], ts: future})
	}
	return d
}

// want is the true result per output key: every click of the segments
// counted once.
func (d dataset) want() map[string]PageMinute {
	out := map[string]PageMinute{}
	for _, seg := range d.segments {
		for _, c := range seg {
			start := c.ts.Truncate(WindowSize)
			key := OutputKey(c.page, start)
			m, ok := out[key]
			if !ok {
				m = PageMinute{Page: c.page, Start: start, End: start.Add(WindowSize), Regions: map[string]int64{}}
			}
			region := "unknown"
			if u, ok := d.users[c.user]; ok {
				region = u.Region
			}
			m.Clicks++
			m.Regions[region]++
			out[key] = m
		}
	}
	return out
}

// lateInOrder counts the clicks written after a click of a later minute
// (out of order across a window's end: they count only thanks to grace).
func (d dataset) lateInOrder() int {
	var n int
	var maxTS time.Time
	for _, seg := range d.segments {
		for _, c := range seg {
			if c.ts.Truncate(WindowSize).Before(maxTS.Truncate(WindowSize)) {
				n++
			}
			if c.ts.After(maxTS) {
				maxTS = c.ts
			}
		}
	}
	return n
}

// feed writes the data set and waits until the application has
// processed it: the users; each segment once the previous one is
// processed (during(s) runs once segment s is written, before the wait);
// then the closing clicks, and it waits for them to be counted.
func feed(t *testing.T, cl *kgo.Client, adm *kadm.Client, d dataset, during func(segment int)) {
	t.Helper()
	p := producer{t: t, cl: cl}
	p.users(d.users)
	waitProcessed(t, adm, false, 30*time.Second)
	for s, seg := range d.segments {
		p.clicks(seg)
		if during != nil {
			during(s)
		}
		waitProcessed(t, adm, false, 30*time.Second)
	}
	p.clicks(d.closing)
	waitProcessed(t, adm, true, 30*time.Second)
}

// producer writes the data set's records.
type producer struct {
	t  *testing.T
	cl *kgo.Client
}

func (p producer) produce(topic, key string, v any, ts time.Time) *kgo.Record {
	b, err := json.Marshal(v)
	if err != nil {
		p.t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b, Timestamp: ts}
}

func (p producer) users(users map[string]User) {
	var recs []*kgo.Record
	for _, id := range slices.Sorted(maps.Keys(users)) {
		recs = append(recs, p.produce(UsersTopic, id, users[id], dataStart.Add(-time.Minute)))
	}
	p.sync(recs)
}

func (p producer) clicks(cs []click) {
	recs := make([]*kgo.Record, len(cs))
	for i, c := range cs {
		recs[i] = p.produce(ClicksTopic, c.user, Click{Page: c.page}, c.ts)
	}
	p.sync(recs)
}

func (p producer) sync(recs []*kgo.Record) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		p.t.Fatal(err)
	}
}

// caughtUp reports whether the application has committed every record
// of the topics: processed them and had their outputs acknowledged.
func caughtUp(ctx context.Context, adm *kadm.Client, topics ...string) (bool, error) {
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return false, err
	}
	committed, err := adm.FetchOffsets(ctx, appID)
	if err != nil {
		return false, err
	}
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		c, _ := committed.Lookup(o.Topic, o.Partition)
		if o.Err != nil || max(c.At, 0) < o.Offset {
			ok = false
		}
	})
	return ok, nil
}

// waitProcessed waits until the application has committed all of the
// source topics (so their outputs, the repartition topic's records among
// them, are written), then, with downstream, all of the repartition
// topic's records as of then: every click is then counted.
func waitProcessed(t *testing.T, adm *kadm.Client, downstream bool, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	topics := [][]string{{ClicksTopic, UsersTopic}}
	if downstream {
		topics = append(topics, []string{repartitionTopic(t, adm)})
	}
	for _, ts := range topics {
		for {
			ok, err := caughtUp(ctx, adm, ts...)
			if err != nil {
				t.Fatalf("waiting for %v to be processed: %v", ts, err)
			}
			if ok {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%v not processed after %v", ts, timeout)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// repartitionTopic finds the application's one repartition topic.
func repartitionTopic(t *testing.T, adm *kadm.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, name := range topics.Names() {
		if strings.HasPrefix(name, appID+"-") && strings.HasSuffix(name, "-repartition") {
			found = append(found, name)
		}
	}
	if len(found) != 1 {
		t.Fatalf("repartition topics %v, want one", found)
	}
	return found[0]
}

// readResults reads the output topic to its end: the last value per key.
func readResults(t *testing.T, brokers []string) map[string]PageMinute {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(OutputTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, OutputTopic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{} // partition → end offset not yet reached
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	out := map[string]PageMinute{}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read %s: %v", OutputTopic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var m PageMinute
			if err := json.Unmarshal(r.Value, &m); err != nil {
				t.Fatalf("output %s: %v", r.Key, err)
			}
			out[string(r.Key)] = m
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
		})
	}
	return out
}

// checkResults compares the results with the truth: exactly, or (at
// least) every window present with counts at least the true ones.
func checkResults(t *testing.T, got, want map[string]PageMinute, exact bool) (extra int64) {
	t.Helper()
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("unexpected result %s: %+v", key, got[key])
		}
	}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		g, w := got[key], want[key]
		switch {
		case g.Page == "":
			t.Errorf("%s: missing (want %d clicks)", key, w.Clicks)
		case !g.Start.Equal(w.Start) || !g.End.Equal(w.End) || g.Page != w.Page:
			t.Errorf("%s: window %s %v-%v, want %s %v-%v", key, g.Page, g.Start, g.End, w.Page, w.Start, w.End)
		case exact && (g.Clicks != w.Clicks || !maps.Equal(g.Regions, w.Regions)):
			t.Errorf("%s: %d clicks %v, want %d %v", key, g.Clicks, g.Regions, w.Clicks, w.Regions)
		case !exact && g.Clicks < w.Clicks:
			t.Errorf("%s: %d clicks, fewer than the %d written", key, g.Clicks, w.Clicks)
		}
		extra += g.Clicks - w.Clicks
	}
	return extra
}
