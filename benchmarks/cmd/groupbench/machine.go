package main

import (
	"runtime"

	"github.com/runnel-io/runnel/benchmarks/internal/host"
)

// machine describes where the run happened, for the report's header.
type machine struct {
	goVersion string
	cpu       string
	cores     int
}

func describeMachine() machine {
	return machine{goVersion: host.GoVersion(), cpu: host.CPUModel(), cores: runtime.NumCPU()}
}
