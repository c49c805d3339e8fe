package main

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-io/runnel/cluster"
	"github.com/runnel-io/runnel/cluster/clustertest"
)

// Partitions of the test topics: clicks and users are co-partitioned.
const (
	inputPartitions  = 6
	outputPartitions = 3
	numTasks         = 2 * inputPartitions // two sub-topologies
	numSegments      = 25                  // 150 s of clicks: the minutes 9:59 (half), 10:00 and 10:01
	killAt           = 13                  // the segment during which an instance dies (10:00:48-10:00:54)
	joinAt           = 10                  // the segment during which a fourth instance starts
	// victimCommitInterval is the commit interval of the instance that is
	// killed: long enough that it dies with processed, uncommitted clicks.
	victimCommitInterval = time.Second
	// killSessionTimeout is how soon the survivors notice the kill. Under
	// load a survivor may miss its heartbeats too and lose its tasks for
	// a moment: at-least-once holds anyway.
	killSessionTimeout = 3 * time.Second
	// sessionTimeout, where no instance dies, is long enough that no
	// instance loses its tasks to a slow heartbeat on a loaded machine.
	sessionTimeout = 10 * time.Second
)

// startTestBroker starts a runnel broker on loopback with the topics, and
// returns its address and an admin client.
func startTestBroker(t *testing.T) ([]string, *kgo.Client, *kadm.Client) {
	t.Helper()
	b := clustertest.Start(t, func(cfg *cluster.Config) {
		cfg.GroupInitialRebalanceDelay = 300 * time.Millisecond
		cfg.GroupMinSessionTimeout = time.Second
	})
	brokers := []string{b.Addr().String()}
	cl, adm := adminClient(t, brokers)
	createTopics(t, adm)
	return brokers, cl, adm
}

func adminClient(t *testing.T, brokers []string) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

func createTopics(t *testing.T, adm *kadm.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for topic, n := range map[string]int32{ClicksTopic: inputPartitions, UsersTopic: inputPartitions, OutputTopic: outputPartitions} {
		if _, err := adm.CreateTopic(ctx, n, 1, nil, topic); err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
}

// startInstances starts n instances (the first with two stream threads)
// with the given session timeout, and waits until they share the tasks.
// flags[i] are more flags for instance i.
func startInstances(t *testing.T, brokers []string, n int, session time.Duration, flags map[int][]string) []*instance {
	bin := binary(t)
	var ins []*instance
	for i := range n {
		extra := append([]string{"--session-timeout", session.String()}, flags[i]...)
		if i == 0 {
			extra = append(extra, "--threads", "2")
		}
		ins = append(ins, startInstance(t, bin, fmt.Sprintf("instance %d", i+1), brokers, extra...))
	}
	waitBalanced(t, numTasks, ins...)
	return ins
}

// TestClickstreamSurvivesSIGKILL: three instances share the work; one is
// SIGKILLed while it processes clicks; the two others take its tasks,
// restore their state from the changelogs, and the final count of every
// page and minute is at least the true one (at-least-once: records
// processed since the dead instance's last commit are counted again).
func TestClickstreamSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	start := time.Now()
	brokers, cl, adm := startTestBroker(t)
	ins := startInstances(t, brokers, 3, killSessionTimeout, map[int][]string{1: {"--commit-interval", victimCommitInterval.String()}})
	t.Logf("%v: three instances share the tasks", time.Since(start).Round(time.Millisecond))
	data := makeDataset(numSegments)
	victim, survivors := ins[1], []*instance{ins[0], ins[2]}
	var victimTasks map[string]bool
	var seen []int // survivors' event counts at the kill
	feed(t, cl, adm, data, func(s int) {
		if s == killAt-1 {
			// Before the victim's last commit: the minute 9:59 has closed
			// (at 10:00:10) in every windowed-count task, so its final
			// results are out, and by segment killAt (stream time past
			// 10:00:40) its windows have been expired from the stores.
			waitClosed(t, brokers, data, dataStart.Truncate(WindowSize))
			t.Logf("%v: the windows of %v closed and were emitted", time.Since(start).Round(time.Millisecond), dataStart.Truncate(WindowSize).Format("15:04"))
		}
		if s == killAt+1 {
			t.Logf("%v: the survivors processed the segment the victim was processing", time.Since(start).Round(time.Millisecond))
		}
		if s != killAt {
			return
		}
		// The victim committed all it had when the wait for the previous
		// segment ended, and commits next victimCommitInterval later: it
		// dies with this segment processed and not committed, after the
		// first minute's windows closed, were emitted and expired, and
		// before the next minute's close (10:01:10). Its windowed tasks'
		// stores are restored with the closed windows in them (expiry
		// writes no tombstones) and with the stream time and last close
		// time emitted, so the clicks processed again do not make a
		// closed window anew, nor emit one again.
		time.Sleep(victimCommitInterval / 4)
		victimTasks = victim.tasks()
		for _, sv := range survivors {
			seen = append(seen, len(sv.events(0)))
		}
		victim.kill(t)
		t.Logf("%v: killed %s (tasks %v) while it processed segment %d", time.Since(start).Round(time.Millisecond), victim.name, sorted(victimTasks), s)
	})
	waitBalanced(t, numTasks, survivors...)

	taken := map[string]bool{} // assigned to a survivor since the kill
	for i, sv := range survivors {
		for _, e := range sv.events(seen[i]) {
			for _, id := range e.tasks {
				taken[id] = taken[id] || e.kind == "assigned"
			}
		}
	}
	for id := range victimTasks {
		if !taken[id] {
			t.Errorf("task %s of the killed instance was not assigned to a survivor (survivors got %v)", id, sorted(taken))
		}
	}
	if !slices.ContainsFunc(slices.Collect(maps.Keys(victimTasks)), func(id string) bool { return strings.HasPrefix(id, "1_") }) {
		t.Errorf("the killed instance had no windowed-count task (sub-topology 1): %v", sorted(victimTasks))
	}
	restored := restoredRecords(survivors, victimTasks)
	if restored == 0 {
		t.Errorf("the survivors restored no changelog records of the killed instance's tasks %v", sorted(victimTasks))
	}
	extra := checkResults(t, readResults(t, brokers), data.want(), false)
	t.Logf("%v: %d windows; survivors restored %d changelog records of the dead instance's tasks; %d clicks counted twice (reprocessed after the kill)",
		time.Since(start).Round(time.Millisecond), len(data.want()), restored, extra)
}

// waitClosed waits until the output topic holds the final result of
// every page's window starting at minute.
func waitClosed(t *testing.T, brokers []string, data dataset, minute time.Time) {
	t.Helper()
	var want []string
	for key, m := range data.want() {
		if m.Start.Equal(minute) {
			want = append(want, key)
		}
	}
	if len(want) == 0 {
		t.Fatalf("the data set has no click in the minute %v", minute)
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("the final results of the %d windows of %v", len(want), minute.Format("15:04")), func() bool {
		got := readResults(t, brokers)
		for _, key := range want {
			if _, ok := got[key]; !ok {
				return false
			}
		}
		return true
	})
}

// TestClickstreamExactAndScaleOut: with no instance killed the counts are
// exact; and a fourth instance started in the middle takes tasks from
// the three others, which never stop (revoke) the tasks they keep.
func TestClickstreamExactAndScaleOut(t *testing.T) {
	t.Parallel()
	start := time.Now()
	brokers, cl, adm := startTestBroker(t)
	ins := startInstances(t, brokers, 3, sessionTimeout, nil)
	t.Logf("%v: three instances share the tasks", time.Since(start).Round(time.Millisecond))
	data := makeDataset(numSegments)
	if n := data.lateInOrder(); n == 0 {
		t.Fatal("the data set has no click that arrives after its minute ended")
	}
	var before []map[string]bool
	var seen []int
	feed(t, cl, adm, data, func(s int) {
		if s != joinAt {
			return
		}
		for _, in := range ins {
			before = append(before, in.tasks())
			seen = append(seen, len(in.events(0)))
		}
		ins = append(ins, startInstance(t, binary(t), "instance 4", brokers, "--session-timeout", sessionTimeout.String()))
	})
	waitBalanced(t, numTasks, ins...)
	checkResults(t, readResults(t, brokers), data.want(), true)
	t.Logf("%v: %d windows exact, %d clicks of which %d arrived after their minute ended",
		time.Since(start).Round(time.Millisecond), len(data.want()), numSegments*len(data.segments[0]), data.lateInOrder())

	moved := map[string]bool{}
	for i, in := range ins[:3] {
		moved = checkKept(t, in, before[i], in.events(seen[i]), moved)
	}
	got := ins[3].tasks()
	for id := range got {
		if !moved[id] {
			t.Errorf("instance 4 has task %s, which no other instance gave up", id)
		}
	}
	t.Logf("instance 4 took %v", sorted(got))
}

// checkKept checks the task events of an instance since the fourth one
// started: the tasks it kept were never revoked (nor lost); it gave up
// some. It adds the revoked tasks to moved.
func checkKept(t *testing.T, in *instance, before map[string]bool, events []taskEvent, moved map[string]bool) map[string]bool {
	t.Helper()
	after := in.tasks()
	revoked := map[string]bool{}
	for _, e := range events {
		switch e.kind {
		case "lost":
			t.Errorf("%s lost tasks %v", in.name, e.tasks)
		case "revoked":
			for _, id := range e.tasks {
				revoked[id] = true
				moved[id] = true
			}
		}
	}
	var kept []string
	for id := range before {
		if after[id] {
			kept = append(kept, id)
			if revoked[id] {
				t.Errorf("%s kept task %s but it was revoked (stopped) in the rebalance", in.name, id)
			}
		}
	}
	slices.Sort(kept)
	if len(kept) == 0 {
		t.Errorf("%s kept none of its tasks %v", in.name, sorted(before))
	}
	t.Logf("%s: had %v, kept %v running, gave up %v", in.name, sorted(before), kept, sorted(revoked))
	return moved
}

var restoredLine = regexp.MustCompile(`msg="stream: restored store" task=(\S+) .* records=(\d+)`)

// restoredRecords sums the changelog records the instances logged as
// restored for the given tasks.
func restoredRecords(ins []*instance, tasks map[string]bool) int {
	var n int
	for _, in := range ins {
		for _, line := range in.lines() {
			m := restoredLine.FindStringSubmatch(line)
			if m != nil && tasks[m[1]] {
				k, _ := strconv.Atoi(m[2])
				n += k
			}
		}
	}
	return n
}

func sorted(set map[string]bool) string {
	return "[" + strings.Join(slices.Sorted(maps.Keys(set)), " ") + "]"
}
