package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
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
		goVersion: goVersion(),
		cpu:       cpuModel(),
		cores:     runtime.NumCPU(),
		memory:    memTotal(),
		kernel:    kernelRelease(),
		fs:        filesystem(dir),
		loadStart: loadAverage(),
	}
}

// goVersion is `go version`'s output, or the toolchain that built this
// binary when the go command is not on the PATH.
func goVersion() string {
	out, err := exec.Command("go", "version").Output()
	if err != nil {
		return fmt.Sprintf("go version %s %s/%s (built with)", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	kb, err := statusField("/proc/meminfo", "MemTotal:")
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return "Linux " + strings.TrimSpace(string(b))
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute figures: the run
// shares the machine with whatever else runs, and this says how much.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// filesystem summarises `df -T dir`: type, device and mount point.
func filesystem(dir string) string {
	out, err := exec.Command("df", "-T", dir).Output()
	if err != nil {
		return "unknown (df -T: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 {
		return "unknown"
	}
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 7 {
		return lines[len(lines)-1]
	}
	return fmt.Sprintf("%s on %s, mounted at %s", f[1], f[0], f[6])
}

// statusField reads a "Name:   123 kB" line of a /proc file, in kB.
func statusField(path, name string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in %s", name, path)
}

// vmRSS is a process's resident set size in bytes.
func vmRSS(pid int) (int64, error) {
	kb, err := statusField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	return kb << 10, err
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

// errNoDrop is returned when the page cache cannot be dropped (not root).
var errNoDrop = errors.New("cannot drop the page cache (needs root)")

// dropSettle is how long dropCaches waits after dropping: a VM whose
// balloon reports free memory to the host hands the freed pages back over
// the next seconds, and whatever runs meanwhile pays for it unevenly.
var dropSettle = 2 * time.Second

// dropCaches writes dirty pages back and empties the page cache, so that
// the next reads come from the disk.
func dropCaches() error {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		return fmt.Errorf("%w: %v", errNoDrop, err)
	}
	time.Sleep(dropSettle)
	return nil
}
