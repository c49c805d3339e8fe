package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// row is one line of the figures table. runnel and peer are what was
// measured; ratio is runnel/peer (or as the figure defines it); met is
// "yes", "no" or "—" for a figure with no target.
type row struct {
	figure, runnel, peer, ratio, target, met string
}

// Throughput in the units the issue asks for.
func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / d.Seconds() / 1e6 }

func fmtMBps(v float64) string { return fmt.Sprintf("%.0f MB/s", v) }

// atLeast is a row whose target is ratio >= min.
func atLeast(figure, runnel, peer string, ratio, min float64) row {
	return row{figure, runnel, peer, fmt.Sprintf("%.2f", ratio), fmt.Sprintf("≥ %.1f", min), yesNo(ratio >= min)}
}

// within is a row whose target is |ratio - 1| <= tol.
func within(figure, runnel, peer string, ratio, tol float64) row {
	return row{figure, runnel, peer, fmt.Sprintf("%.2f", ratio), fmt.Sprintf("within %.0f%%", tol*100), yesNo(math.Abs(ratio-1) <= tol)}
}

// info is a row with no target.
func info(figure, runnel, peer, ratio string) row {
	return row{figure, runnel, peer, ratio, "—", "—"}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func writeTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| figure | runnel | peer | ratio | target | met? |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.figure, r.runnel, r.peer, r.ratio, r.target, r.met)
	}
}

func writeHeader(w io.Writer, m machine, start time.Time, command, dataNote string) {
	fmt.Fprintf(w, "## logbench — %s\n\n", start.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- %s\n", m.goVersion)
	fmt.Fprintf(w, "- CPU: %s, %d cores\n", m.cpu, m.cores)
	fmt.Fprintf(w, "- filesystem: %s\n", m.fs)
	fmt.Fprintf(w, "- command: `%s`\n", command)
	fmt.Fprintf(w, "- %s\n\n", dataNote)
}

// rangeMBps is " (range lo–hi)" of the throughputs of a sample, or ""
// for a single run.
func rangeMBps(bytes int64, ds []time.Duration) string {
	if len(ds) < 2 {
		return ""
	}
	lo, hi := slices.Max(ds), slices.Min(ds)
	return fmt.Sprintf(" (range %.0f–%.0f)", mbps(bytes, lo), mbps(bytes, hi))
}

func joinNotes(notes []string) string { return strings.Join(notes, "\n") }
