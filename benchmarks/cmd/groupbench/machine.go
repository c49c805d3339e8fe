package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// machine describes where the run happened, for the report's header.
type machine struct {
	goVersion string
	cpu       string
	cores     int
}

func describeMachine() machine {
	return machine{goVersion: goVersion(), cpu: cpuModel(), cores: runtime.NumCPU()}
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

// loadAverage is /proc/loadavg's first three fields: the machine is
// shared, and a loaded machine slows both sides unevenly.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}
