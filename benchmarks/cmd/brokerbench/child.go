package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/runnel-io/runnel/benchmarks/internal/host"
)

// Every broker runs in a child process: this binary with -child=KIND
// -dir=DIR. The child starts the broker, prints "ready ADDR[,ADDR...]",
// and then obeys lines on its stdin:
//
//	profile PATH   start a CPU profile into PATH, answer "ok"
//	stopprofile    stop it, answer "ok"
//
// When its stdin closes it stops the broker cleanly and exits. It also
// dies with the parent (PR_SET_PDEATHSIG), so no broker outlives a run.

// broker is a broker serving in this (child) process.
type broker struct {
	addrs []string
	close func() error
}

// brokerKinds start a broker of each kind in dir (ignored by kfake).
var brokerKinds = map[string]func(dir string) (*broker, error){
	peerRunnel:    startRunnel,
	peerKfake:     startKfake,
	peerJetStream: startJetStream,
}

func childMain(kind, dir string) error {
	start, ok := brokerKinds[kind]
	if !ok {
		return fmt.Errorf("unknown broker kind %q", kind)
	}
	b, err := start(dir)
	if err != nil {
		return err
	}
	fmt.Printf("ready %s\n", strings.Join(b.addrs, ","))
	var prof *os.File
	stopProf := func() {
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
			prof = nil
		}
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "profile":
			stopProf()
			f, err := os.Create(arg)
			if err == nil {
				if err = pprof.StartCPUProfile(f); err != nil {
					f.Close()
				} else {
					prof = f
				}
			}
			answer(err)
		case "stopprofile":
			stopProf()
			answer(nil)
		default:
			answer(fmt.Errorf("unknown command %q", cmd))
		}
	}
	stopProf()
	return b.close()
}

func answer(err error) {
	if err != nil {
		fmt.Printf("error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	fmt.Println("ok")
}

// brokerProc is the parent's handle on a broker child.
type brokerProc struct {
	kind, dir string
	addrs     []string
	cmd       *exec.Cmd
	in        io.WriteCloser
	out       *bufio.Reader
	rss       *rssSampler
	exited    chan struct{}
}

// children is every running child, so that a timeout or an interrupt can
// end them before removing the data.
var children struct {
	sync.Mutex
	m map[*brokerProc]struct{}
}

func startBroker(kind, dir string) (*brokerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-child="+kind, "-dir="+dir, fmt.Sprintf("-kfake-brokers=%d", kfakeBrokers))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	bp := &brokerProc{kind: kind, dir: dir, cmd: cmd, in: in, out: bufio.NewReader(out), exited: make(chan struct{})}
	children.Lock()
	if err := cmd.Start(); err != nil {
		children.Unlock()
		return nil, err
	}
	if children.m == nil {
		children.m = map[*brokerProc]struct{}{}
	}
	children.m[bp] = struct{}{}
	children.Unlock()
	go func() {
		cmd.Wait()
		close(bp.exited)
	}()
	line, err := bp.readLine(time.Minute)
	if err != nil || !strings.HasPrefix(line, "ready ") {
		bp.kill()
		return nil, fmt.Errorf("%s broker did not start: %q %v", kind, line, err)
	}
	bp.addrs = strings.Split(strings.TrimPrefix(line, "ready "), ",")
	bp.rss = newRSSSampler(cmd.Process.Pid, bp.exited)
	return bp, nil
}

// readLine reads one line of the child's stdout within timeout.
func (bp *brokerProc) readLine(timeout time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := bp.out.ReadString('\n')
		ch <- res{strings.TrimSuffix(s, "\n"), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(timeout):
		return "", fmt.Errorf("%s broker: no answer within %v", bp.kind, timeout)
	}
}

func (bp *brokerProc) command(line string) error {
	if _, err := fmt.Fprintln(bp.in, line); err != nil {
		return err
	}
	ans, err := bp.readLine(time.Minute)
	if err != nil {
		return err
	}
	if ans != "ok" {
		return fmt.Errorf("%s broker: %s: %s", bp.kind, line, ans)
	}
	return nil
}

// cpu is the child's CPU time so far; 0 if it cannot be read.
func (bp *brokerProc) cpu() time.Duration {
	d, _ := cpuTime(bp.cmd.Process.Pid)
	return d
}

// selfCPU is this process's CPU time (the clients).
func selfCPU() time.Duration {
	d, _ := cpuTime(os.Getpid())
	return d
}

// startProfile and stopProfile drive the child's CPU profile.
func (bp *brokerProc) startProfile(path string) error { return bp.command("profile " + path) }
func (bp *brokerProc) stopProfile() error             { return bp.command("stopprofile") }

// stop closes the child's stdin, so that it stops its broker cleanly, and
// waits for it to exit; it kills a child that takes over a minute.
func (bp *brokerProc) stop() error {
	bp.in.Close()
	select {
	case <-bp.exited:
	case <-time.After(time.Minute):
		bp.kill()
		return fmt.Errorf("%s broker did not stop within a minute: killed", bp.kind)
	}
	children.Lock()
	delete(children.m, bp)
	children.Unlock()
	if !bp.cmd.ProcessState.Success() {
		return fmt.Errorf("%s broker exited: %v", bp.kind, bp.cmd.ProcessState)
	}
	return nil
}

func (bp *brokerProc) kill() {
	bp.cmd.Process.Kill()
	<-bp.exited
	children.Lock()
	delete(children.m, bp)
	children.Unlock()
}

// killChildren ends every running child (timeout, interrupt, error).
func killChildren() {
	children.Lock()
	defer children.Unlock()
	for bp := range children.m {
		bp.cmd.Process.Kill()
	}
}

// rssSampler reads a child's VmRSS every rssInterval and keeps the peak
// since the last take.
type rssSampler struct {
	pid  int
	last atomic.Int64
	peak atomic.Int64
	errs atomic.Int64
}

const rssInterval = 50 * time.Millisecond

func newRSSSampler(pid int, exited <-chan struct{}) *rssSampler {
	s := &rssSampler{pid: pid}
	s.sample()
	go func() {
		t := time.NewTicker(rssInterval)
		defer t.Stop()
		for {
			select {
			case <-exited:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	n, err := host.VmRSS(s.pid)
	if err != nil {
		s.errs.Add(1)
		return
	}
	s.last.Store(n)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// now is the latest sample; takePeak is the peak since the previous
// takePeak, and starts a new period at the current value.
func (s *rssSampler) now() int64 { s.sample(); return s.last.Load() }

func (s *rssSampler) takePeak() int64 {
	s.sample()
	return s.peak.Swap(s.last.Load())
}
