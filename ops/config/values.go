package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a pflag.Value for a time.Duration. It parses Go durations
// (90s, 1h30m, 168h) and a plain 0. With Forever set it also takes -1,
// Kafka's "forever", and stores any negative value as -1; without it
// negative values are refused.
type Duration struct {
	D       *time.Duration
	Forever bool
}

// NewDuration points a Duration at d, set to def.
func NewDuration(d *time.Duration, def time.Duration, forever bool) Duration {
	*d = def
	return Duration{D: d, Forever: forever}
}

func (v Duration) Set(s string) error {
	s = strings.TrimSpace(s)
	var d time.Duration
	if s == "-1" {
		d = -1
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			if v.Forever {
				return fmt.Errorf("%q is not a duration (e.g. 90s, 30m, 168h) nor -1", s)
			}
			return fmt.Errorf("%q is not a duration (e.g. 100ms, 1s, 5m)", s)
		}
	}
	if d < 0 {
		if !v.Forever {
			return fmt.Errorf("%q is negative", s)
		}
		d = -1
	}
	*v.D = d
	return nil
}

func (v Duration) String() string {
	if v.D == nil {
		return "0s"
	}
	if *v.D < 0 {
		return "-1"
	}
	return v.D.String()
}

func (v Duration) Type() string { return "duration" }

// Bytes is a pflag.Value for a byte count: a plain integer, or one with a
// binary suffix (KiB, MiB, GiB, TiB; K, M, G, T mean the same). When min is
// -1 it also takes -1, Kafka's "no limit".
type Bytes struct {
	N        *int64
	Min, Max int64
}

// NewBytes points a Bytes at n, set to def, accepting [min, max].
func NewBytes(n *int64, def, min, max int64) Bytes {
	*n = def
	return Bytes{N: n, Min: min, Max: max}
}

var byteUnits = []struct {
	suffix string
	shift  uint
}{
	{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10},
	{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10},
	{"B", 0},
}

func (v Bytes) Set(s string) error {
	n, err := parseBytes(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	if n < v.Min || n > v.Max {
		return fmt.Errorf("%s is out of range [%s, %s]", s, formatBytes(v.Min), formatBytes(v.Max))
	}
	*v.N = n
	return nil
}

func parseBytes(s string) (int64, error) {
	num, shift := s, uint(0)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a byte count (e.g. 1048576, 512MiB, 1GiB)", s)
	}
	if shift > 0 && (n < 0 || n > (1<<63-1)>>shift) {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n << shift, nil
}

// formatBytes prints n with the largest binary suffix that divides it.
func formatBytes(n int64) string {
	if n > 0 {
		for _, u := range byteUnits[:4] {
			if n%(1<<u.shift) == 0 {
				return strconv.FormatInt(n>>u.shift, 10) + u.suffix
			}
		}
	}
	return strconv.FormatInt(n, 10)
}

func (v Bytes) String() string {
	if v.N == nil {
		return "0"
	}
	return formatBytes(*v.N)
}

func (v Bytes) Type() string { return "bytes" }

// OneOf is a pflag.Value for a string from a fixed set.
type OneOf struct {
	S      *string
	Values []string
}

// NewOneOf points a OneOf at s, set to def, accepting values.
func NewOneOf(s *string, def string, values ...string) OneOf {
	*s = def
	return OneOf{S: s, Values: values}
}

func (v OneOf) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, ok := range v.Values {
		if s == ok {
			*v.S = s
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", s, strings.Join(v.Values, ", "))
}

func (v OneOf) String() string {
	if v.S == nil {
		return ""
	}
	return *v.S
}

func (v OneOf) Type() string { return strings.Join(v.Values, "|") }
