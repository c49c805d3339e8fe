package log

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a child process that
// appends to a log until it is killed with SIGKILL; the parent then
// recovers the log and checks it. The child is TestCrashChild, which skips
// unless crashDirEnv names the log directory.
const (
	crashDirEnv   = "RUNNEL_CRASH_CHILD_DIR"
	crashEpochEnv = "RUNNEL_CRASH_CHILD_EPOCH"
	crashSeedEnv  = "RUNNEL_CRASH_SEED" // set to replay a failing run's kill delays

	crashRounds       = 24
	crashFlushEvery   = 8                // batches between the child's Flush calls
	crashChildLife    = 30 * time.Second // the child gives up if nobody kills it
	crashWaitMax      = 60 * time.Second // the parent's bound on any wait for the child
	crashTimestampMs0 = 1_700_000_000_000
)

// crashConfig has small segments, so that the child rolls often.
func crashConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 256 << 10
	c.IndexIntervalBytes = 1024
	return c
}

// crashBatch is the batch the child appends at base: 1 to 4 records whose
// keys, values and timestamps are derived from their offsets, so that
// anyone can rebuild what must be stored at an offset.
func crashBatch(t testing.TB, base int64) []byte {
	n := 1 + int(base%4)
	recs := make([]Record, n)
	for i := range recs {
		off := base + int64(i)
		recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i),
			Key: fmt.Appendf(nil, "k%d", off), Value: crashValue(off)}
	}
	return testBatchOf(t, CompressionNone, crashTimestampMs0+base, recs)
}

// crashValue is 100 to 1099 pseudo-random bytes seeded by off.
func crashValue(off int64) []byte {
	v := make([]byte, 100+int(uint64(off)*7919%1000))
	x := uint64(off)*0x9E3779B97F4A7C15 + 1
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[i] = byte(x)
	}
	return v
}

// TestCrashChild is the child process of TestCrashRecoveryKill. It opens
// the log, prints "ready <end>", then appends crashBatch batches with the
// leader epoch it was given, flushing every crashFlushEvery batches and
// printing "flushed <end>" after each successful Flush, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the child of TestCrashRecoveryKill; runs only when re-executed by it")
	}
	epoch, err := strconv.Atoi(os.Getenv(crashEpochEnv))
	if err != nil {
		fmt.Fprintf(os.Stdout, "error bad epoch: %v\n", err)
		os.Exit(2)
	}
	if err := runCrashChild(t, dir, int32(epoch)); err != nil {
		fmt.Fprintf(os.Stdout, "error %v\n", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stdout, "error nobody killed the child within %v\n", crashChildLife)
	os.Exit(3)
}

func runCrashChild(t *testing.T, dir string, epoch int32) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	l, err := Open(dir, WithConfig(crashConfig()), WithLogger(logger))
	if err != nil {
		return err
	}
	// os.Stdout is unbuffered: each line is one write(2), whole in the pipe
	// when the process is killed.
	fmt.Fprintf(os.Stdout, "ready %d\n", l.EndOffset())
	deadline := time.Now().Add(crashChildLife)
	for i := 1; time.Now().Before(deadline); i++ {
		base := l.EndOffset()
		res, err := l.Append(crashBatch(t, base), epoch)
		if err != nil {
			return fmt.Errorf("append at %d: %w", base, err)
		}
		if res.BaseOffset != base {
			return fmt.Errorf("append at %d got base offset %d", base, res.BaseOffset)
		}
		if i%crashFlushEvery == 0 {
			if err := l.Flush(); err != nil {
				return fmt.Errorf("flush: %w", err)
			}
			fmt.Fprintf(os.Stdout, "flushed %d\n", l.EndOffset())
		}
	}
	return nil
}

// crashChild is one run of the child process, as the parent sees it.
type crashChild struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	ready  chan int64    // the end offset the child opened the log at
	done   chan struct{} // stdout reached EOF: the child is gone

	mu      sync.Mutex
	flushed int64    // the last "flushed" offset, -1 if none
	errLine string   // an "error" line, or a malformed line
	other   []string // the first lines of anything else (the testing package)
}

func startCrashChild(t *testing.T, dir string, epoch int) *crashChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashEpochEnv+"="+strconv.Itoa(epoch))
	c := &crashChild{cmd: cmd, ready: make(chan int64, 1), done: make(chan struct{}), flushed: -1}
	cmd.Stderr = &c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go c.readLines(out)
	return c
}

func (c *crashChild) readLines(out io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		verb, arg, _ := strings.Cut(line, " ")
		n, perr := strconv.ParseInt(arg, 10, 64)
		c.mu.Lock()
		switch {
		case verb == "ready" && perr == nil && len(c.ready) == 0:
			c.ready <- n // buffered: the one ready line never blocks
		case verb == "flushed" && perr == nil && n >= c.flushed:
			c.flushed = n
		case verb == "error", verb == "ready", verb == "flushed":
			if c.errLine == "" {
				c.errLine = line
			}
		default: // the testing package talking
			if len(c.other) < 20 {
				c.other = append(c.other, line)
			}
		}
		c.mu.Unlock()
	}
}

// kill kills the child, waits for it and returns the last flushed offset
// it reported.
func (c *crashChild) kill(t *testing.T) int64 {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(crashWaitMax):
		t.Fatalf("child %d: stdout still open %v after SIGKILL", c.cmd.Process.Pid, crashWaitMax)
	}
	err := c.cmd.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.errLine != "" {
		t.Fatalf("child: %s\nstderr:\n%s", c.errLine, c.stderr.String())
	}
	if strings.Contains(c.stderr.String(), "DATA RACE") {
		t.Fatalf("child: race detected:\n%s", c.stderr.String())
	}
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child exited before it was killed: %v\nstdout:\n%s\nstderr:\n%s",
			err, strings.Join(c.other, "\n"), c.stderr.String())
	}
	return c.flushed
}

// TestCrashRecoveryKill kills a child process appending to a log at random
// moments, crashRounds times, and checks after each kill that the log
// recovers to a valid prefix of what the child appended which holds every
// offset the child had flushed. Each round's child continues the same log.
func TestCrashRecoveryKill(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("inside the crash child")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s: %v", crashSeedEnv, err)
		}
	}
	t.Logf("kill delays seeded with %s=%d", crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	dir := t.TempDir()

	var end, flushed int64 // what the parent last verified; the highest flushed offset reported
	start := time.Now()
	for round := 1; round <= crashRounds; round++ {
		delay := time.Duration(5+rng.IntN(196)) * time.Millisecond
		// Most rounds kill the child while it appends; every fourth one
		// counts from the start of the process, so that some kills land
		// in process start-up or in Open.
		fromSpawn := round%4 == 0
		c := startCrashChild(t, dir, round)
		if !fromSpawn {
			select {
			case got := <-c.ready:
				// The parent closed the log cleanly: the child must find
				// exactly what the parent verified.
				if got != end {
					c.kill(t)
					t.Fatalf("round %d: child opened the log at %d, parent closed it at %d", round, got, end)
				}
			case <-c.done:
				c.kill(t)
				t.Fatalf("round %d: child ended before it was ready", round)
			case <-time.After(crashWaitMax):
				c.kill(t)
				t.Fatalf("round %d: child not ready after %v", round, crashWaitMax)
			}
		}
		<-time.After(delay) // the random kill moment, not a synchronisation
		f := c.kill(t)
		flushed = max(flushed, f)
		newEnd := checkCrashLog(t, dir, round, flushed, end)
		t.Logf("round %d: killed %v after %s; flushed %d, recovered end %d (+%d)",
			round, delay, map[bool]string{true: "spawn", false: "ready"}[fromSpawn], f, newEnd, newEnd-end)
		end = newEnd
	}
	if end == 0 {
		t.Fatalf("no child appended anything in %d rounds", crashRounds)
	}

	// The recovered log takes appends.
	l := openTestLog(t, dir, WithConfig(crashConfig()))
	res, err := l.Append(crashBatch(t, end), crashRounds+1)
	if err != nil || res.BaseOffset != end {
		t.Fatalf("append after the last crash: %+v, %v; want base %d", res, err, end)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := checkCrashLog(t, dir, crashRounds+1, res.LastOffset+1, res.LastOffset+1); got != res.LastOffset+1 {
		t.Fatalf("log ends at %d after the final append, want %d", got, res.LastOffset+1)
	}
	t.Logf("%d rounds in %v, %d offsets", crashRounds, time.Since(start).Round(time.Millisecond), end)
}

// checkCrashLog opens the log after a crash and checks that it is a valid
// prefix of the crash children's appends: offsets contiguous from 0, every
// batch valid and as crashBatch built it, leader epochs never decreasing
// nor above the last round's, reaching at least flushed and the end the
// previous check saw. It closes the log cleanly and returns its end.
func checkCrashLog(t *testing.T, dir string, round int, flushed, prevEnd int64) int64 {
	t.Helper()
	logger, logBuf := quietLogger(t)
	l, err := Open(dir, WithConfig(crashConfig()), WithLogger(logger))
	if err != nil {
		t.Fatalf("round %d: open after kill: %v", round, err)
	}
	end := l.EndOffset()
	if end < flushed {
		t.Fatalf("round %d: log ends at %d, but the child flushed up to %d", round, end, flushed)
	}
	if end < prevEnd {
		t.Fatalf("round %d: log ends at %d, but it ended at %d before the child ran", round, end, prevEnd)
	}
	if s := l.StartOffset(); s != 0 {
		t.Fatalf("round %d: start offset %d, want 0", round, s)
	}
	next, epoch := int64(0), int32(0)
	for i, b := range readAllBatches(t, l, end) {
		h, err := ValidateBatch(b)
		if err != nil {
			t.Fatalf("round %d: batch %d at offset %d: %v", round, i, next, err)
		}
		if h.BaseOffset != next {
			t.Fatalf("round %d: batch %d has base offset %d, want %d", round, i, h.BaseOffset, next)
		}
		if h.LeaderEpoch < epoch || h.LeaderEpoch > int32(round) {
			t.Fatalf("round %d: batch at %d has epoch %d after epoch %d", round, next, h.LeaderEpoch, epoch)
		}
		epoch = h.LeaderEpoch
		want := crashBatch(t, next)
		setBaseOffset(want, next)
		setLeaderEpoch(want, epoch)
		if !bytes.Equal(b, want) {
			t.Fatalf("round %d: batch at %d differs from what the child appended", round, next)
		}
		next = h.NextOffset()
	}
	if next != end {
		t.Fatalf("round %d: batches end at %d, log end offset is %d", round, next, end)
	}
	if strings.Contains(logBuf.String(), "truncating") {
		t.Logf("round %d: recovery cut a torn tail", round)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("round %d: close: %v", round, err)
	}
	return end
}
