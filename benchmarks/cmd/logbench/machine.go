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
	fs        string
}

func describeMachine(dir string) machine {
	return machine{
		goVersion: goVersion(),
		cpu:       cpuModel(),
		cores:     runtime.NumCPU(),
		fs:        filesystem(dir),
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

// vmRSS is the process's resident set size in bytes, from
// /proc/self/status.
func vmRSS() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
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
