package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// report is everything brokerbench prints: settings, one table per
// figure, and the targets.
type report struct {
	settings []string
	sections []*section
	targets  [][]string // figure, target, result, met?
	notes    []string
}

// section is one Markdown table with its title and notes.
type section struct {
	title  string
	header []string
	rows   [][]string
	notes  []string
}

func (r *report) section(title string, header ...string) *section {
	s := &section{title: title, header: header}
	r.sections = append(r.sections, s)
	return s
}

func (s *section) row(cells ...string) { s.rows = append(s.rows, cells) }
func (s *section) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

func (r *report) target(figure, target, result string, met bool) {
	r.targets = append(r.targets, []string{figure, target, result, yesNo(met)})
}

func (r *report) write(w io.Writer, m machine, start time.Time, command, dir string, took time.Duration) {
	fmt.Fprintf(w, "## brokerbench — %s\n\n", start.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- %s\n", m.goVersion)
	fmt.Fprintf(w, "- CPU: %s, %d cores, %s, %s\n", m.cpu, m.cores, m.memory, m.kernel)
	fmt.Fprintf(w, "- filesystem: %s\n", m.fs)
	fmt.Fprintf(w, "- load average (1/5/15 min) at start: %s; at end: %s\n", m.loadStart, m.loadEnd)
	fmt.Fprintf(w, "- command: `%s` (run time %v)\n", command, took.Round(time.Second))
	fmt.Fprintf(w, "- data: %s (removed after)\n", dir)
	for _, s := range r.settings {
		fmt.Fprintf(w, "- %s\n", s)
	}
	for _, s := range r.sections {
		fmt.Fprintf(w, "\n### %s\n\n", s.title)
		writeTable(w, s.header, s.rows)
		if len(s.notes) > 0 {
			fmt.Fprintln(w)
			for _, n := range s.notes {
				fmt.Fprintf(w, "- %s\n", n)
			}
		}
	}
	fmt.Fprintf(w, "\n### Targets\n\n")
	writeTable(w, []string{"figure", "target", "result", "met?"}, r.targets)
	if len(r.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

func writeTable(w io.Writer, header []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(header, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", len(header)))
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// sample is one timed transfer.
type sample struct {
	records, bytes int64
	d              time.Duration
}

func (r sample) mbps() float64 { return float64(r.bytes) / r.d.Seconds() / 1e6 }
func (r sample) rps() float64  { return float64(r.records) / r.d.Seconds() }

// tput is the rounds of one throughput figure for one broker.
type tput struct{ runs []sample }

func (t *tput) add(r sample) { t.runs = append(t.runs, r) }
func (t *tput) ok() bool     { return t != nil && len(t.runs) > 0 }

func (t *tput) mbps() float64 { return medianOf(t.runs, sample.mbps) }
func (t *tput) rps() float64  { return medianOf(t.runs, sample.rps) }

// cell is "X rec/s, Y MB/s (range lo–hi MB/s)".
func (t *tput) cell() string {
	if !t.ok() {
		return "—"
	}
	s := fmt.Sprintf("%s rec/s, %s", fmtCount(t.rps()), fmtMBps(t.mbps()))
	if len(t.runs) > 1 {
		lo, hi := math.Inf(1), 0.0
		for _, r := range t.runs {
			lo, hi = min(lo, r.mbps()), max(hi, r.mbps())
		}
		s += fmt.Sprintf(" (range %.0f–%.0f)", lo, hi)
	}
	return s
}

// mbCell is "Y MB/s (range lo–hi)", for figures where records do not
// matter.
func (t *tput) mbCell() string {
	if !t.ok() {
		return "—"
	}
	s := fmtMBps(t.mbps())
	if len(t.runs) > 1 {
		lo, hi := math.Inf(1), 0.0
		for _, r := range t.runs {
			lo, hi = min(lo, r.mbps()), max(hi, r.mbps())
		}
		s += fmt.Sprintf(" (range %.0f–%.0f)", lo, hi)
	}
	return s
}

func medianOf[T any](xs []T, f func(T) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

// ratio is a/b as "1.23", or "—" when either is missing.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func fmtMBps(v float64) string { return fmt.Sprintf("%.0f MB/s", v) }

func fmtCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
