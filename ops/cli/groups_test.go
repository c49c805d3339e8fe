package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/cluster"
)

// groupsBroker starts a real broker in-process on a loopback port.
func groupsBroker(t *testing.T) string {
	t.Helper()
	cfg := cluster.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.OffsetsTopicNumPartitions = 2
	cfg.GroupInitialRebalanceDelay = 100 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve() }()
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close broker: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return b.Addr().String()
}

// groupsCLI runs `runnel groups ARGS... --brokers addr` and returns stdout.
func groupsCLI(t *testing.T, addr string, args ...string) (string, error) {
	t.Helper()
	out, stderr, err := run(t, append(append([]string{"groups"}, args...), "--brokers", addr, "--timeout", "20s")...)
	if err != nil {
		t.Logf("runnel groups %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return out, err
}

// mustCLI is groupsCLI that fails the test on an error.
func mustCLI(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out, err := groupsCLI(t, addr, args...)
	if err != nil {
		t.Fatalf("runnel groups %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// table returns the rows under the first line of out whose columns start
// with header's words, split on blanks, as maps from column to value. It
// stops at the first blank line.
func table(t *testing.T, out, header string) []map[string]string {
	t.Helper()
	var cols []string
	var rows []map[string]string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case cols == nil && len(f) >= len(strings.Fields(header)) && slices.Equal(f[:len(strings.Fields(header))], strings.Fields(header)):
			cols = f
		case cols != nil && len(f) == 0:
			return rows
		case cols != nil:
			if len(f) != len(cols) {
				t.Fatalf("row %q has %d fields, header %v has %d", line, len(f), cols, len(cols))
			}
			row := map[string]string{}
			for i, c := range cols {
				row[c] = f[i]
			}
			rows = append(rows, row)
		}
	}
	if cols == nil {
		t.Fatalf("no table with header %q in:\n%s", header, out)
	}
	return rows
}

// byPartition indexes rows of one topic by their PARTITION column.
func byPartition(rows []map[string]string) map[string]map[string]string {
	m := map[string]map[string]string{}
	for _, r := range rows {
		m[r["PARTITION"]] = r
	}
	return m
}

const cliTopic = "orders"

// tsBase is the timestamp of record 0 of every partition; record i is
// tsBase + i seconds, so --to-datetime has exact answers.
var tsBase = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// produceTimed writes n records to each of partitions, with timestamps
// tsBase + i s for record i.
func produceTimed(t *testing.T, cl *kgo.Client, partitions int32, from, n int) {
	t.Helper()
	var recs []*kgo.Record
	for p := range partitions {
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Topic: cliTopic, Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i),
				Timestamp: tsBase.Add(time.Duration(i) * time.Second)})
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// cliConsumer is a franz-go group member that consumes and keeps what it
// read; it commits only when told.
type cliConsumer struct {
	cl   *kgo.Client
	mu   sync.Mutex
	read map[int32][]int64 // offsets read per partition
	done chan struct{}
}

func startConsumer(t *testing.T, addr, group, clientID string) *cliConsumer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(clientID),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(cliTopic), kgo.Balancers(kgo.RangeBalancer()),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.HeartbeatInterval(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c := &cliConsumer{cl: cl, read: map[int32][]int64{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				c.mu.Lock()
				c.read[r.Partition] = append(c.read[r.Partition], r.Offset)
				c.mu.Unlock()
			})
		}
	}()
	t.Cleanup(c.close)
	return c
}

// close leaves the group (franz-go sends LeaveGroup) and stops polling.
func (c *cliConsumer) close() {
	c.cl.Close()
	<-c.done
}

func (c *cliConsumer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, os := range c.read {
		n += len(os)
	}
	return n
}

func (c *cliConsumer) firstOffsets() map[int32]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[int32]int64{}
	for p, os := range c.read {
		m[p] = os[0]
	}
	return m
}

// waitUntil polls cond every 50 ms for up to 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// committed returns the group's committed offsets on cliTopic.
func committed(t *testing.T, adm *kadm.Client, group string) map[int32]int64 {
	t.Helper()
	os, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	m := map[int32]int64{}
	for p, o := range os[cliTopic] {
		if o.Err != nil {
			t.Fatalf("committed %s/%d: %v", cliTopic, p, o.Err)
		}
		m[p] = o.At
	}
	return m
}

func groupState(t *testing.T, adm *kadm.Client, group string) (string, int) {
	t.Helper()
	ds, err := adm.DescribeGroups(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	return ds[group].State, len(ds[group].Members)
}

func wantOffsets(t *testing.T, what string, got map[int32]int64, want map[int32]int64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: committed %v, want %v", what, got, want)
	}
}

// TestGroupsCLI drives every groups command against a real broker with
// real franz-go consumers: list and describe a live group, reset-offsets
// refused while it has members, dry run and --execute once it is empty
// (each target), a restarted consumer resuming from the reset offsets,
// delete refused and then done.
func TestGroupsCLI(t *testing.T) {
	addr := groupsBroker(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(context.Background(), 4, 1, nil, cliTopic); err != nil {
		t.Fatal(err)
	}
	produceTimed(t, cl, 4, 0, 10)

	a := startConsumer(t, addr, "billing", "billing-a")
	b := startConsumer(t, addr, "billing", "billing-b")
	waitUntil(t, "both consumers to read 40 records", func() bool { return a.count()+b.count() == 40 })
	for _, c := range []*cliConsumer{a, b} {
		if err := c.cl.CommitUncommittedOffsets(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Five more on partition 0, read but not committed: a lag of 5.
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: cliTopic, Partition: 0, Value: []byte("x"), Timestamp: time.Now()},
		&kgo.Record{Topic: cliTopic, Partition: 0, Value: []byte("x"), Timestamp: time.Now()},
		&kgo.Record{Topic: cliTopic, Partition: 0, Value: []byte("x"), Timestamp: time.Now()},
		&kgo.Record{Topic: cliTopic, Partition: 0, Value: []byte("x"), Timestamp: time.Now()},
		&kgo.Record{Topic: cliTopic, Partition: 0, Value: []byte("x"), Timestamp: time.Now()}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the group to be Stable with 2 members", func() bool {
		s, n := groupState(t, adm, "billing")
		return s == "Stable" && n == 2
	})
	wantOffsets(t, "after the consumers' commit", committed(t, adm, "billing"), map[int32]int64{0: 10, 1: 10, 2: 10, 3: 10})

	t.Run("list", func(t *testing.T) { testGroupsList(t, addr) })
	t.Run("describe", func(t *testing.T) { testGroupsDescribeLive(t, addr) })

	// While members are in the group, reset-offsets refuses, changing nothing.
	_, err = groupsCLI(t, addr, "reset-offsets", "billing", "--topic", cliTopic, "--to-earliest", "--execute")
	if err == nil || !strings.Contains(err.Error(), "is Stable with 2 members") || !strings.Contains(err.Error(), "only be reset while the group is Empty") {
		t.Fatalf("reset of a live group: %v", err)
	}
	wantOffsets(t, "after a refused reset", committed(t, adm, "billing"), map[int32]int64{0: 10, 1: 10, 2: 10, 3: 10})
	// delete refuses too.
	if _, err := groupsCLI(t, addr, "delete", "billing"); err == nil || !strings.Contains(err.Error(), "still has members") {
		t.Fatalf("delete of a live group: %v", err)
	}

	a.close()
	b.close()
	waitUntil(t, "the group to be Empty", func() bool { s, _ := groupState(t, adm, "billing"); return s == "Empty" })
	t.Run("describe-empty", func(t *testing.T) { testGroupsDescribeEmpty(t, addr) })
	t.Run("reset", func(t *testing.T) { testGroupsReset(t, addr, adm) })

	// A consumer started now resumes where the last reset put the group.
	if _, err := groupsCLI(t, addr, "reset-offsets", "billing", "--topic", cliTopic, "--to-datetime", tsBase.Add(7*time.Second).Format(time.RFC3339), "--execute"); err != nil {
		t.Fatal(err)
	}
	c := startConsumer(t, addr, "billing", "billing-c")
	waitUntil(t, "the restarted consumer to read every partition", func() bool { return len(c.firstOffsets()) == 4 })
	if got := c.firstOffsets(); fmt.Sprint(got) != fmt.Sprint(map[int32]int64{0: 7, 1: 7, 2: 7, 3: 7}) {
		t.Fatalf("after --to-datetime +7s the consumer started at %v, want 7 everywhere", got)
	}
	c.close()
	waitUntil(t, "the group to be Empty again", func() bool { s, _ := groupState(t, adm, "billing"); return s == "Empty" })

	out := mustCLI(t, addr, "delete", "billing")
	if !strings.Contains(out, "Deleted group billing") {
		t.Fatalf("delete: %q", out)
	}
	if got := committed(t, adm, "billing"); len(got) != 0 {
		t.Fatalf("offsets left after delete: %v", got)
	}
	if out := mustCLI(t, addr, "list"); strings.Contains(out, "billing") {
		t.Fatalf("list after delete:\n%s", out)
	}
	for _, args := range [][]string{{"describe", "billing"}, {"delete", "billing"}} {
		if _, err := groupsCLI(t, addr, args...); err == nil || !strings.Contains(err.Error(), `group "billing" does not exist`) {
			t.Fatalf("%v after delete: %v", args, err)
		}
	}
}

func testGroupsList(t *testing.T, addr string) {
	// A second group known only by its commits is listed Empty.
	adm := kadm.NewClient(mustClient(t, addr))
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: cliTopic, Partition: 1, At: 3, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(context.Background(), "audit", os); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, addr, "list")
	rows := table(t, out, "GROUP")
	want := []map[string]string{
		{"GROUP": "audit", "STATE": "Empty", "PROTOCOL-TYPE": "-", "PROTOCOL": "-", "MEMBERS": "0"},
		{"GROUP": "billing", "STATE": "Stable", "PROTOCOL-TYPE": "consumer", "PROTOCOL": "range", "MEMBERS": "2"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("list:\n%s\nwant rows %v", out, want)
	}
	if _, err := adm.DeleteGroup(context.Background(), "audit"); err != nil {
		t.Fatal(err)
	}
}

func mustClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testGroupsDescribeLive(t *testing.T, addr string) {
	out := mustCLI(t, addr, "describe", "billing")
	if !strings.Contains(out, "Group billing: state Stable, protocol consumer/range, 2 members") {
		t.Fatalf("describe header:\n%s", out)
	}
	members := table(t, out, "GROUP  CONSUMER-ID")
	if len(members) != 2 {
		t.Fatalf("describe members:\n%s", out)
	}
	owner := map[string]string{} // partition → client id
	var clients []string
	for _, m := range members {
		clients = append(clients, m["CLIENT-ID"])
		if m["HOST"] != "/127.0.0.1" || m["#PARTITIONS"] != "2" || !strings.HasPrefix(m["CONSUMER-ID"], m["CLIENT-ID"]+"-") {
			t.Fatalf("member row %v:\n%s", m, out)
		}
		ps := strings.TrimSuffix(strings.TrimPrefix(m["ASSIGNMENT"], cliTopic+"("), ")")
		for _, p := range strings.Split(ps, ",") {
			owner[p] = m["CLIENT-ID"]
		}
	}
	slices.Sort(clients)
	if fmt.Sprint(clients) != "[billing-a billing-b]" || len(owner) != 4 {
		t.Fatalf("members %v own %v:\n%s", clients, owner, out)
	}
	rows := byPartition(table(t, out, "GROUP  TOPIC"))
	for p, lag := range map[string]string{"0": "5", "1": "0", "2": "0", "3": "0"} {
		r := rows[p]
		end := "10"
		if p == "0" {
			end = "15"
		}
		if r["TOPIC"] != cliTopic || r["CURRENT-OFFSET"] != "10" || r["LOG-END-OFFSET"] != end || r["LAG"] != lag ||
			r["CLIENT-ID"] != owner[p] || r["HOST"] != "/127.0.0.1" || !strings.HasPrefix(r["CONSUMER-ID"], owner[p]) {
			t.Fatalf("partition %s: row %v, owner %s:\n%s", p, r, owner[p], out)
		}
	}
}

func testGroupsDescribeEmpty(t *testing.T, addr string) {
	out := mustCLI(t, addr, "describe", "billing")
	if !strings.Contains(out, "state Empty") || !strings.Contains(out, "Group billing has no active members.") {
		t.Fatalf("describe of an empty group:\n%s", out)
	}
	rows := byPartition(table(t, out, "GROUP  TOPIC"))
	if len(rows) != 4 || rows["0"]["LAG"] != "5" || rows["0"]["CONSUMER-ID"] != "-" || rows["3"]["CURRENT-OFFSET"] != "10" {
		t.Fatalf("describe of an empty group:\n%s", out)
	}
}

func testGroupsReset(t *testing.T, addr string, adm *kadm.Client) {
	before := map[int32]int64{0: 10, 1: 10, 2: 10, 3: 10}

	// A dry run prints the plan and changes nothing.
	out := mustCLI(t, addr, "reset-offsets", "billing", "--topic", cliTopic, "--to-earliest")
	rows := byPartition(table(t, out, "GROUP"))
	if len(rows) != 4 || rows["0"]["CURRENT-OFFSET"] != "10" || rows["0"]["NEW-OFFSET"] != "0" || rows["0"]["LOG-END-OFFSET"] != "15" ||
		!strings.Contains(out, "Dry run: nothing was committed. Add --execute") {
		t.Fatalf("dry run:\n%s", out)
	}
	wantOffsets(t, "after a dry run", committed(t, adm, "billing"), before)

	for _, tc := range []struct {
		args []string
		want map[int32]int64
	}{
		// Some partitions only; 12 is past partition 1's end (10): clamped.
		{[]string{"--topic", cliTopic + ":0,1", "--to-offset", "12"}, map[int32]int64{0: 12, 1: 10, 2: 10, 3: 10}},
		{[]string{"--topic", cliTopic, "--to-earliest"}, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0}},
		{[]string{"--topic", cliTopic, "--to-latest"}, map[int32]int64{0: 15, 1: 10, 2: 10, 3: 10}},
		// Record i is at tsBase+i s; +2.5 s: the first at or after is 3.
		{[]string{"--topic", cliTopic, "--to-datetime", tsBase.Add(2500 * time.Millisecond).Format(time.RFC3339Nano)}, map[int32]int64{0: 3, 1: 3, 2: 3, 3: 3}},
		// After every record of partitions 1-3: their end.
		{[]string{"--topic", cliTopic, "--to-datetime", "2024-05-01T13:00:00+01:00"}, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0}},
		{[]string{"--topic", cliTopic, "--to-datetime", "2024-05-01T13:00:00Z"}, map[int32]int64{0: 10, 1: 10, 2: 10, 3: 10}},
	} {
		args := append([]string{"reset-offsets", "billing"}, tc.args...)
		out := mustCLI(t, addr, append(args, "--execute")...)
		if !strings.Contains(out, "Committed the new offsets of") {
			t.Fatalf("%v:\n%s", args, out)
		}
		wantOffsets(t, strings.Join(tc.args, " "), committed(t, adm, "billing"), tc.want)
	}
	// (Partition 0's last five records are stamped now: 13:00Z finds them.)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic", cliTopic}, "exactly one of"},
		{[]string{"--topic", cliTopic, "--to-earliest", "--to-latest"}, "exactly one of"},
		{[]string{"--to-earliest"}, "--topic is required"},
		{[]string{"--topic", cliTopic, "--to-datetime", "yesterday"}, "RFC 3339"},
		{[]string{"--topic", cliTopic, "--to-offset", "-3"}, "negative"},
		{[]string{"--topic", cliTopic + ":x", "--to-earliest"}, "not a partition number"},
		{[]string{"--topic", cliTopic + ":9", "--to-earliest"}, "has no partition 9"},
		{[]string{"--topic", "no-such-topic", "--to-earliest"}, "UNKNOWN_TOPIC_OR_PARTITION"},
	} {
		_, err := groupsCLI(t, addr, append([]string{"reset-offsets", "billing", "--execute"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("reset-offsets %v: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
	wantOffsets(t, "after refused resets", committed(t, adm, "billing"), map[int32]int64{0: 10, 1: 10, 2: 10, 3: 10})
	if ts, err := adm.ListTopics(context.Background()); err != nil || ts.Has("no-such-topic") {
		t.Fatalf("a reset of an unknown topic created it (%v)", err)
	}
}

// TestGroupsBrokersFromEnv: RUNNEL_BROKERS sets --brokers; the flag wins.
func TestGroupsBrokersFromEnv(t *testing.T) {
	addr := groupsBroker(t)
	runEnv := func(env []string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		cmd := newGroupsCommandEnv(func() []string { return env })
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs(args)
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := runEnv([]string{"RUNNEL_BROKERS=" + addr}, "list", "--timeout", "10s")
	if err != nil || !strings.Contains(out, "No consumer groups.") {
		t.Fatalf("list with RUNNEL_BROKERS: %v\n%s", err, out)
	}
	// A port nobody listens on: the error names it, within --timeout.
	start := time.Now()
	_, err = runEnv([]string{"RUNNEL_BROKERS=" + addr}, "list", "--brokers", "127.0.0.1:1", "--timeout", "1s")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || time.Since(start) > 10*time.Second {
		t.Fatalf("list of an unreachable broker: %v after %v", err, time.Since(start))
	}
}

func TestGroupsHelp(t *testing.T) {
	out, _, err := run(t, "groups", "reset-offsets", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--to-earliest", "--to-latest", "--to-datetime", "--to-offset", "--execute", "--brokers", "RUNNEL_BROKERS", "Empty"} {
		if !strings.Contains(out, want) {
			t.Errorf("reset-offsets help lacks %q", want)
		}
	}
	if root, _, _ := run(t, "--help"); !strings.Contains(root, "groups") {
		t.Errorf("root help does not list groups")
	}
}
