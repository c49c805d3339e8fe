package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/runnel-io/runnel/benchmarks/internal/host"
)

// machine describes where the run happened, for the report's header.
type machine struct {
	goVersion string
	cpu       string
	cores     int
	memory    string
	kernel    string
	fs        string
	loadStart string
	loadEnd   string
}

func describeMachine(dir string) machine {
	return machine{
		goVersion: host.GoVersion(),
		cpu:       host.CPUModel(),
		cores:     runtime.NumCPU(),
		memory:    host.MemTotal(),
		kernel:    host.KernelRelease(),
		fs:        host.Filesystem(dir),
		loadStart: host.LoadAverage(" "),
	}
}

// cpuTime is a process's user + system CPU time, all its threads, from
// /proc/PID/stat (in clock ticks of 1/100 s, USER_HZ on Linux).
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	// After the command: state is field 3, utime 14 and stime 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// machineBusy is the CPU time all processes have used since boot, from
// /proc/stat's first line (every state but idle and iowait).
func machineBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// dropSettle is how long dropCaches waits after dropping (-settle).
var dropSettle = 2 * time.Second

// dropCaches empties the page cache, then waits dropSettle.
func dropCaches() error { return host.DropCaches(dropSettle) }
