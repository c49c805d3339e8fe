package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/runnel-io/runnel/log"
)

// Child processes: the figures that depend on a fresh process (resident
// memory, Open after a crash) run the same binary with -child set.
const (
	childProbe      = "probe"      // open a log, read at random, report RSS and latencies
	childCrashWrite = "crashwrite" // append, say "ready", wait to be SIGKILLed
	childRecover    = "recover"    // time Open of a crashed log, exit without Close
)

// children tracks the running child so that a timeout or an interrupt can
// end it before removing the data.
var children struct {
	sync.Mutex
	cur *exec.Cmd
}

func startChild(args ...string) (*exec.Cmd, io.ReadCloser, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	children.Lock()
	defer children.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	children.cur = cmd
	return cmd, out, nil
}

func waitChild(cmd *exec.Cmd) error {
	err := cmd.Wait()
	children.Lock()
	children.cur = nil
	children.Unlock()
	return err
}

// killChild ends the running child, if any (timeout, interrupt).
func killChild() {
	children.Lock()
	defer children.Unlock()
	if children.cur != nil && children.cur.Process != nil {
		children.cur.Process.Kill()
	}
}

// runChildJSON runs a child and decodes the JSON it prints into v.
func runChildJSON(v any, args ...string) error {
	cmd, out, err := startChild(args...)
	if err != nil {
		return err
	}
	derr := json.NewDecoder(out).Decode(v)
	io.Copy(io.Discard, out)
	if err := waitChild(cmd); err != nil {
		return fmt.Errorf("child %v: %w", args, err)
	}
	return derr
}

// probeResult is what a probe child reports.
type probeResult struct {
	OpenNs                       int64
	RSSBefore, RSSOpen, RSSReads int64
	LatNs                        []int64
}

func runProbeChild(dir string, reads int) (probeResult, error) {
	var r probeResult
	err := runChildJSON(&r, "-child="+childProbe, "-dir="+dir, "-reads="+strconv.Itoa(reads))
	return r, err
}

// probeMain is the probe child: Open (clean), reads random reads, Close.
func probeMain(dir string, reads int) error {
	var r probeResult
	var err error
	if r.RSSBefore, err = vmRSS(); err != nil {
		return err
	}
	start := time.Now()
	l, err := log.Open(dir, log.WithConfig(log.DefaultConfig()), log.WithLogger(logger))
	if err != nil {
		return err
	}
	defer l.Close()
	r.OpenNs = int64(time.Since(start))
	if r.RSSOpen, err = vmRSS(); err != nil {
		return err
	}
	l.SetHighWatermark(l.EndOffset())
	lat, err := randomReads(l, rand.New(rand.NewPCG(3, 5)), reads, randomReadBytes)
	if err != nil {
		return err
	}
	for _, d := range lat {
		r.LatNs = append(r.LatNs, int64(d))
	}
	if r.RSSReads, err = vmRSS(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// crashWrite runs a child that appends n bytes to a log in dir without
// closing it, then kills it with SIGKILL: the log is left as a crash
// leaves it, with no clean-shutdown marker.
func crashWrite(dir string, n int64) error {
	cmd, out, err := startChild("-child="+childCrashWrite, "-dir="+dir, "-bytes="+strconv.FormatInt(n, 10))
	if err != nil {
		return err
	}
	line, rerr := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Kill()
	werr := waitChild(cmd)
	if rerr != nil || line != "ready\n" {
		return fmt.Errorf("crash writer: %q, %v (exit: %v)", line, rerr, werr)
	}
	return nil
}

// crashWriteMain is the crash-write child.
func crashWriteMain(dir string, n int64) error {
	p, err := newBatchPool(42)
	if err != nil {
		return err
	}
	l, err := log.Open(dir, log.WithConfig(log.DefaultConfig()), log.WithLogger(logger))
	if err != nil {
		return err
	}
	if _, err := appendBytes(l, p, n); err != nil {
		return err
	}
	fmt.Println("ready")
	time.Sleep(time.Hour) // killed long before
	return errors.New("crash writer was not killed")
}

// recoverResult is what a recover child reports.
type recoverResult struct {
	OpenNs    int64
	EndOffset int64
	Size      int64
}

func runRecoverChild(dir string) (recoverResult, error) {
	var r recoverResult
	err := runChildJSON(&r, "-child="+childRecover, "-dir="+dir)
	return r, err
}

// recoverMain is the recover child. It exits without Close, so the log
// stays crashed and the next child recovers it again.
func recoverMain(dir string) error {
	start := time.Now()
	l, err := log.Open(dir, log.WithConfig(log.DefaultConfig()), log.WithLogger(logger))
	if err != nil {
		return err
	}
	r := recoverResult{OpenNs: int64(time.Since(start)), EndOffset: l.EndOffset(), Size: l.Size()}
	return json.NewEncoder(os.Stdout).Encode(r)
}
