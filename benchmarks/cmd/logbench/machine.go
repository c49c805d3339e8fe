package main

import (
	"os"
	"runtime"
	"time"

	"github.com/runnel-io/runnel/benchmarks/internal/host"
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
		goVersion: host.GoVersion(),
		cpu:       host.CPUModel(),
		cores:     runtime.NumCPU(),
		fs:        host.Filesystem(dir),
	}
}

// vmRSS is this process's resident set size in bytes.
func vmRSS() (int64, error) { return host.VmRSS(os.Getpid()) }

// dropSettle is how long dropCaches waits after dropping (-settle).
var dropSettle = 2 * time.Second

// dropCaches empties the page cache, then waits dropSettle.
func dropCaches() error { return host.DropCaches(dropSettle) }
