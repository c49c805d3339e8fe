package stream

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-io/runnel/stream/serde"
)

// TestHelperInstance is not a test: TestKilledInstanceTasksMove runs the
// test binary again with RUNNEL_TEST_INSTANCE=<broker address> to get an
// instance in a process of its own, which it then SIGKILLs. The instance
// prints "tasks <n>" on every change of its tasks.
func TestHelperInstance(t *testing.T) {
	addr := os.Getenv("RUNNEL_TEST_INSTANCE")
	if addr == "" {
		t.Skip("run by TestKilledInstanceTasksMove")
	}
	var mu sync.Mutex
	n := 0
	opts := append(testAppOptions(addr), OnTaskEvent(func(e TaskEvent) {
		mu.Lock()
		defer mu.Unlock()
		if e.Kind == TasksAssigned {
			n += len(e.Tasks)
		} else {
			n -= len(e.Tasks)
		}
		fmt.Printf("tasks %d\n", n)
	}))
	app, err := New(wordCountTopology(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// An instance killed with SIGKILL (no commit, no leave) loses its tasks
// after the session timeout; the survivor restores their state from the
// changelog, and every record is counted at least once.
func TestKilledInstanceTasksMove(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "lines", 2, nil)
	createTopic(t, addr, "word-counts", 2, nil)
	a := start(t, "a", wordCountTopology(t), testAppOptions(addr)...)

	child := exec.Command(os.Args[0], "-test.run=^TestHelperInstance$")
	child.Env = append(os.Environ(), "RUNNEL_TEST_INSTANCE="+addr)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			child.Process.Kill()
		}
		child.Wait()
	})
	childTasks := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "tasks ") {
				childTasks <- line
			}
		}
	}()
	waitFor(t, "a to give the child half its tasks", func() bool { return len(a.Tasks()) == 2 })
	waitLine(t, childTasks, "tasks 2")

	var text []string
	for i := range 40 {
		text = append(text, fmt.Sprintf("k%d m%d", i%6, i%4))
	}
	produce(t, addr, lines("lines", text[:20]...)...)
	waitCounts(t, addr, wordCounts(text[:20]...))

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	killedAt := time.Now()
	produce(t, addr, lines("lines", text[20:]...)...)
	waitFor(t, "a to take every task", func() bool { return len(a.Tasks()) == 4 })
	if took := time.Since(killedAt); took < testSession/2 {
		t.Errorf("tasks moved %v after the kill, before the %v session timeout", took, testSession)
	}
	want := wordCounts(text...)
	waitFor(t, "every record counted at least once", func() bool {
		got := latest(t, addr, "word-counts", serde.Int64)
		for w, n := range want {
			if got[w] < n {
				return false
			}
		}
		return len(got) == len(want)
	})
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	deadline := time.After(testWait)
	for {
		select {
		case l := <-lines:
			if l == want {
				return
			}
		case <-deadline:
			t.Fatalf("the child never printed %q", want)
		}
	}
}
