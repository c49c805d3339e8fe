// Package config fills a command's flags from the places a server reads its
// settings, in order of precedence: the command line, environment variables
// (RUNNEL_LOG_RETENTION_BYTES for --log-retention-bytes), a properties file
// in the style of Kafka's server.properties (log-retention-bytes=...), and
// the flags' own defaults.
//
// The flags stay the single description of every setting: their names are
// the file's keys and, upper-cased with a prefix, the variables' names, and
// their pflag.Value types parse all three sources the same way.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// maxFileBytes bounds the properties file read: a settings file is small,
// and a wrong path (a log, a device) should fail fast, not fill memory.
const maxFileBytes = 1 << 20

// Origin says where a flag's value came from.
type Origin int

const (
	FromDefault Origin = iota
	FromFile
	FromEnv
	FromFlag
)

func (o Origin) String() string {
	switch o {
	case FromFile:
		return "file"
	case FromEnv:
		return "env"
	case FromFlag:
		return "flag"
	}
	return "default"
}

// Sources names the places Apply reads besides the command line.
type Sources struct {
	// File is a properties file to read; "" for none.
	File string
	// EnvPrefix starts every variable name, e.g. "RUNNEL_".
	EnvPrefix string
	// Environ holds KEY=VALUE pairs, as os.Environ returns them.
	Environ []string
	// Skip names flags that no file or variable may set (the flag naming
	// the file itself, help).
	Skip []string
}

// Result reports what Apply did.
type Result struct {
	// Origins holds where each flag's value came from.
	Origins map[string]Origin
	// UnknownEnv lists variables with the prefix that name no flag: likely
	// typos, worth a warning, but not an error since the environment is
	// shared with other programs.
	UnknownEnv []string
}

// EnvName is the environment variable for a flag: the prefix, then the
// flag's name upper-cased with '-' and '.' as '_'.
func EnvName(prefix, flag string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return prefix + strings.ToUpper(r.Replace(flag))
}

// Apply sets every flag of fs that the command line left unset from the
// environment, else from the file. fs must have been parsed. An unknown
// key in the file, a key given twice, or a value its flag refuses is an
// error naming the file and line (or the variable).
func Apply(fs *pflag.FlagSet, src Sources) (Result, error) {
	res := Result{Origins: map[string]Origin{}}
	skip := map[string]bool{}
	for _, s := range src.Skip {
		skip[s] = true
	}
	var props []Property
	if src.File != "" {
		var err error
		if props, err = ReadFile(src.File); err != nil {
			return res, err
		}
		if err := checkKeys(fs, src.File, props, skip); err != nil {
			return res, err
		}
	}
	env, unknown := envByFlag(fs, src, skip)
	res.UnknownEnv = unknown
	byKey := map[string]Property{}
	for _, p := range props {
		byKey[p.Key] = p
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		switch {
		case f.Changed:
			res.Origins[f.Name] = FromFlag
		case skip[f.Name]:
			res.Origins[f.Name] = FromDefault
		default:
			err = applyOne(f, env, byKey, src, &res)
		}
	})
	return res, err
}

func applyOne(f *pflag.Flag, env map[string]string, byKey map[string]Property, src Sources, res *Result) error {
	if v, ok := env[f.Name]; ok {
		if err := set(f, v); err != nil {
			return fmt.Errorf("config: %s=%q: %w", EnvName(src.EnvPrefix, f.Name), v, err)
		}
		res.Origins[f.Name] = FromEnv
		return nil
	}
	if p, ok := byKey[f.Name]; ok {
		if err := set(f, p.Value); err != nil {
			return fmt.Errorf("config: %s:%d: %s=%q: %w", src.File, p.Line, p.Key, p.Value, err)
		}
		res.Origins[f.Name] = FromFile
		return nil
	}
	res.Origins[f.Name] = FromDefault
	return nil
}

// set sets a flag's value as the command line would, but leaves it
// unmarked as changed (Origins says where it came from), and reports a bad
// number as "invalid syntax" rather than with strconv's function name.
func set(f *pflag.Flag, v string) error {
	err := f.Value.Set(v)
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

// checkKeys refuses keys that name no flag, or a skipped one, or come twice.
func checkKeys(fs *pflag.FlagSet, file string, props []Property, skip map[string]bool) error {
	seen := map[string]int{}
	for _, p := range props {
		if first, ok := seen[p.Key]; ok {
			return fmt.Errorf("config: %s:%d: key %q already set on line %d", file, p.Line, p.Key, first)
		}
		seen[p.Key] = p.Line
		if skip[p.Key] {
			return fmt.Errorf("config: %s:%d: %q cannot be set in a config file", file, p.Line, p.Key)
		}
		if fs.Lookup(p.Key) == nil {
			return fmt.Errorf("config: %s:%d: unknown key %q%s", file, p.Line, p.Key, suggest(fs, p.Key, skip))
		}
	}
	return nil
}

// suggest names the flag a mistyped key probably meant (Kafka's dotted
// spelling, underscores, case), or lists the valid keys.
func suggest(fs *pflag.FlagSet, key string, skip map[string]bool) string {
	norm := strings.ToLower(strings.NewReplacer(".", "-", "_", "-").Replace(key))
	if f := fs.Lookup(norm); f != nil && !skip[norm] {
		return fmt.Sprintf(" (did you mean %q?)", norm)
	}
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !skip[f.Name] {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	return " (valid keys: " + strings.Join(names, ", ") + ")"
}

// envByFlag picks the variables that name flags, by flag name, and lists
// the other prefixed ones. Empty values count as unset.
func envByFlag(fs *pflag.FlagSet, src Sources, skip map[string]bool) (map[string]string, []string) {
	if src.EnvPrefix == "" {
		return nil, nil
	}
	names := map[string]string{} // variable -> flag
	fs.VisitAll(func(f *pflag.Flag) {
		names[EnvName(src.EnvPrefix, f.Name)] = f.Name
	})
	env := map[string]string{}
	var unknown []string
	for _, kv := range src.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, src.EnvPrefix) {
			continue
		}
		flag, known := names[k]
		switch {
		case !known:
			unknown = append(unknown, k)
		case v != "" && !skip[flag]:
			env[flag] = v
		}
	}
	sort.Strings(unknown)
	return env, unknown
}

// Property is one key=value line of a properties file.
type Property struct {
	Key, Value string
	Line       int
}

// ReadFile reads a properties file; see Parse.
func ReadFile(path string) ([]Property, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	props, err := Parse(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config: %s:%w", path, err)
	}
	return props, nil
}

// errTooLong reports a file over maxFileBytes.
var errTooLong = errors.New("file over 1 MiB: not a config file?")

// Parse reads lines of key=value (or key: value, as Java properties allow),
// with blank lines and lines starting with '#' or '!' ignored, and spaces
// around keys and values trimmed. Unlike Java properties it has no escapes
// nor continuation lines: a line without '=' or ':' is an error. Errors
// start with the line number.
func Parse(r io.Reader) ([]Property, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxFileBytes)
	var out []Property
	n, total := 0, 0
	for sc.Scan() {
		n++
		total += len(sc.Bytes()) + 1
		if total > maxFileBytes {
			return nil, fmt.Errorf("%d: %w", n, errTooLong)
		}
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff") // a BOM some editors write
		}
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			return nil, fmt.Errorf("%d: %q is not key=value", n, line)
		}
		key, val := strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		if key == "" {
			return nil, fmt.Errorf("%d: %q has no key", n, line)
		}
		out = append(out, Property{Key: key, Value: val, Line: n})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = errTooLong
		}
		return nil, fmt.Errorf("%d: %w", n+1, err)
	}
	return out, nil
}
