// Package host tells the benchmark tools about the machine they run on
// (for their reports' headers) and measures processes through /proc. It is
// Linux-only, as the benchmarks are.
package host

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// GoVersion is `go version`'s output, or the toolchain that built this
// binary when the go command is not on the PATH.
func GoVersion() string {
	out, err := exec.Command("go", "version").Output()
	if err != nil {
		return fmt.Sprintf("go version %s %s/%s (built with)", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	return strings.TrimSpace(string(out))
}

// CPUModel is /proc/cpuinfo's first "model name".
func CPUModel() string {
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

// MemTotal is the machine's memory, as "23.5 GiB RAM".
func MemTotal() string {
	kb, err := ProcKB("/proc/meminfo", "MemTotal:")
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
}

// KernelRelease is "Linux" and the kernel's release.
func KernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return "Linux " + strings.TrimSpace(string(b))
}

// LoadAverage is /proc/loadavg's 1, 5 and 15 minute figures joined by sep:
// the machine is shared, and a loaded machine slows both sides of a
// comparison unevenly. "unknown" when it cannot be read.
func LoadAverage(sep string) string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], sep)
}

// Filesystem summarises `df -T dir`: type, device and mount point.
func Filesystem(dir string) string {
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

// ProcKB reads a "Name:   123 kB" line of a /proc file, in kB.
func ProcKB(path, name string) (int64, error) {
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

// VmRSS is a process's resident set size in bytes.
func VmRSS(pid int) (int64, error) {
	kb, err := ProcKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	return kb << 10, err
}

// ErrNoDrop is returned when the page cache cannot be dropped (not root).
var ErrNoDrop = errors.New("cannot drop the page cache (needs root)")

// DropCaches writes dirty pages back and empties the page cache, so that
// the next reads come from the disk, then waits settle: a VM whose balloon
// reports free memory to the host hands the freed pages back over the next
// seconds, and whatever runs meanwhile pays for it unevenly.
func DropCaches(settle time.Duration) error {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		return fmt.Errorf("%w: %v", ErrNoDrop, err)
	}
	time.Sleep(settle)
	return nil
}

// BenchData is benchmarks/data, seen from benchmarks/ or from the
// repository's root.
func BenchData() string {
	if _, err := os.Stat("cmd"); err != nil {
		if _, err := os.Stat("benchmarks"); err == nil {
			return filepath.Join("benchmarks", "data")
		}
	}
	return "data"
}

// DataDir creates a run's data directory and returns its absolute path:
// dir itself, which must not exist yet (the tool removes it after the
// run), or with dir empty a new directory "<tool>-*" under BenchData.
func DataDir(tool, dir string) (string, error) {
	if dir == "" {
		base := BenchData()
		if err := os.MkdirAll(base, 0o755); err != nil {
			return "", err
		}
		d, err := os.MkdirTemp(base, tool+"-")
		if err != nil {
			return "", err
		}
		return filepath.Abs(d)
	}
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("-dir %s exists; %s removes its directory after the run, so give it a new one", dir, tool)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return abs, os.MkdirAll(abs, 0o755)
}
