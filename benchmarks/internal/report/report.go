// Package report formats the benchmark tools' figures for their Markdown
// reports: durations, byte sizes, counts and percentiles, the same way in
// every tool.
package report

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Dur prints a duration with a unit suited to its size.
func Dur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 0:
		return "−" + Dur(-d)
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d.Nanoseconds())/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d.Nanoseconds())/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// Bytes prints a byte count in binary units.
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Int rounds v and groups its digits by thousands with spaces.
func Int(v float64) string {
	s := fmt.Sprintf("%.0f", math.Round(v))
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []string
	for len(s) > 3 {
		out = append([]string{s[len(s)-3:]}, out...)
		s = s[:len(s)-3]
	}
	r := strings.Join(append([]string{s}, out...), " ")
	if neg {
		r = "−" + r
	}
	return r
}

// Percentile returns the p-th percentile (0..100) of sorted, nearest rank.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Median returns the median of vs (the upper middle for an even count).
func Median[T int64 | float64 | time.Duration](vs []T) T {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2]
}

// Command is the tool's command line as it could be retyped: a binary
// that `go run` built in its cache shows as "go run ./cmd/<tool>".
func Command(tool string) string {
	name := os.Args[0]
	if strings.Contains(name, "go-build") {
		name = "go run ./cmd/" + tool
	}
	return strings.TrimSpace(name + " " + strings.Join(os.Args[1:], " "))
}

// ParseSize parses "10GiB", "512MiB", "10GB", "1e9" and the like.
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := 1.0
	num := s
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = v, u.mult
			break
		}
	}
	var f float64
	if _, err := fmt.Sscan(strings.TrimSpace(num), &f); err != nil || f <= 0 {
		return 0, errors.Join(fmt.Errorf("bad size %q", s), err)
	}
	return int64(f * mult), nil
}
