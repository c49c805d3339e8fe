package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestParse(t *testing.T) {
	in := "\ufeff# a comment\n! another\n\n  listen = 127.0.0.1:9092  \nlog-retention-bytes=10GiB\nadvertised-host: example.com\nempty=\nurl=a=b\n"
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Property{
		{"listen", "127.0.0.1:9092", 4},
		{"log-retention-bytes", "10GiB", 5},
		{"advertised-host", "example.com", 6},
		{"empty", "", 7},
		{"url", "a=b", 8},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"listen\n", `1: "listen" is not key=value`},
		{"# ok\n=value\n", `2: "=value" has no key`},
		{strings.Repeat("#", maxFileBytes+10) + "\n", "1: file over 1 MiB"},
		{strings.Repeat("# ...\n", maxFileBytes/6+10), "file over 1 MiB"},
	} {
		_, err := Parse(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%.20q): error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("RUNNEL_", "log-retention-bytes"); got != "RUNNEL_LOG_RETENTION_BYTES" {
		t.Fatal(got)
	}
}

// testFlags is a flag set like a command's, parsed with args.
type testFlags struct {
	fs        *pflag.FlagSet
	listen    string
	parts     int32
	retention time.Duration
	bytes     int64
	auto      bool
	cfg       string
}

func newTestFlags(t *testing.T, args ...string) *testFlags {
	t.Helper()
	f := &testFlags{fs: pflag.NewFlagSet("test", pflag.ContinueOnError)}
	f.fs.StringVar(&f.cfg, "config", "", "")
	f.fs.StringVar(&f.listen, "listen", "default:1", "")
	f.fs.Int32Var(&f.parts, "num-partitions", 1, "")
	f.fs.Var(NewDuration(&f.retention, time.Hour, true), "log-retention", "")
	f.fs.Var(NewBytes(&f.bytes, -1, -1, 1<<40), "log-retention-bytes", "")
	f.fs.BoolVar(&f.auto, "auto-create-topics", true, "")
	if err := f.fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPrecedence sets each setting from a different mix of sources: the
// flag beats the variable, which beats the file, which beats the default.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, "listen=file:1\nnum-partitions=3\nlog-retention=-1\nlog-retention-bytes=1MiB\n")
	f := newTestFlags(t, "--listen", "flag:1")
	res, err := Apply(f.fs, Sources{
		File:      file,
		EnvPrefix: "RUNNEL_",
		Environ: []string{"RUNNEL_LISTEN=env:1", "RUNNEL_NUM_PARTITIONS=7", "RUNNEL_LOG_RETENTION_BYTES=",
			"RUNNEL_NO_SUCH=1", "OTHER=1", "RUNNEL_CONFIG=ignored"},
		Skip: []string{"config"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.listen != "flag:1" || f.parts != 7 || f.retention != -1 || f.bytes != 1<<20 || !f.auto || f.cfg != "" {
		t.Fatalf("listen %q partitions %d retention %v bytes %d auto %v config %q",
			f.listen, f.parts, f.retention, f.bytes, f.auto, f.cfg)
	}
	want := map[string]Origin{"listen": FromFlag, "num-partitions": FromEnv, "log-retention": FromFile,
		"log-retention-bytes": FromFile, "auto-create-topics": FromDefault, "config": FromDefault}
	if !reflect.DeepEqual(res.Origins, want) {
		t.Errorf("origins %v, want %v", res.Origins, want)
	}
	if !reflect.DeepEqual(res.UnknownEnv, []string{"RUNNEL_NO_SUCH"}) {
		t.Errorf("unknown env %v", res.UnknownEnv)
	}
}

func TestApplyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        []string
		want       string
	}{
		{"unknown key", "listen=x\nno-such-key=1\n", nil, `:2: unknown key "no-such-key" (valid keys: auto-create-topics, listen, log-retention, log-retention-bytes, num-partitions)`},
		{"kafka spelling", "log.retention.bytes=1\n", nil, `:1: unknown key "log.retention.bytes" (did you mean "log-retention-bytes"?)`},
		{"duplicate", "listen=a\n\nlisten=b\n", nil, `:3: key "listen" already set on line 1`},
		{"skipped key", "config=other\n", nil, `:1: "config" cannot be set in a config file`},
		{"bad value in file", "num-partitions=many\n", nil, `:1: num-partitions="many": invalid syntax`},
		{"bad bytes in file", "log-retention-bytes=2TiB\n", nil, `log-retention-bytes="2TiB": 2TiB is out of range [-1, 1TiB]`},
		{"bad duration in file", "log-retention=7d\n", nil, `"7d" is not a duration`},
		{"bad value in env", "", []string{"RUNNEL_AUTO_CREATE_TOPICS=maybe"}, `config: RUNNEL_AUTO_CREATE_TOPICS="maybe": invalid syntax`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := Sources{EnvPrefix: "RUNNEL_", Environ: tc.env, Skip: []string{"config"}}
			if tc.file != "" {
				src.File = writeFile(t, tc.file)
			}
			_, err := Apply(newTestFlags(t).fs, src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if src.File != "" && !strings.Contains(err.Error(), src.File) {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Apply(newTestFlags(t).fs, Sources{File: filepath.Join(t.TempDir(), "nope.properties")})
	if err == nil || !strings.Contains(err.Error(), "nope.properties") {
		t.Fatalf("error %v", err)
	}
}

func TestBytes(t *testing.T) {
	var n int64
	v := NewBytes(&n, 0, -1, 1<<40)
	for _, tc := range []struct {
		in   string
		want int64
		str  string
	}{
		{"0", 0, "0"}, {"-1", -1, "-1"}, {"1048588", 1048588, "1048588"}, {"1024", 1024, "1KiB"},
		{"512MiB", 512 << 20, "512MiB"}, {"1GiB", 1 << 30, "1GiB"}, {"2G", 2 << 30, "2GiB"},
		{"3 KiB", 3 << 10, "3KiB"}, {"100B", 100, "100"}, {"1TiB", 1 << 40, "1TiB"},
	} {
		if err := v.Set(tc.in); err != nil || n != tc.want || v.String() != tc.str {
			t.Errorf("Set(%q): %d %q %v; want %d %q", tc.in, n, v.String(), err, tc.want, tc.str)
		}
	}
	for _, bad := range []string{"", "x", "1.5GiB", "-2", "-1KiB", "1KB", "2TiB", "99999999999TiB"} {
		if err := v.Set(bad); err == nil {
			t.Errorf("Set(%q) = nil error, now %d", bad, n)
		}
	}
}

func TestDuration(t *testing.T) {
	var d time.Duration
	forever := NewDuration(&d, 0, true)
	for in, want := range map[string]time.Duration{"-1": -1, "-5m": -1, "0": 0, "168h": 168 * time.Hour, "1h30m": 90 * time.Minute} {
		if err := forever.Set(in); err != nil || d != want {
			t.Errorf("Set(%q): %v %v; want %v", in, d, err, want)
		}
	}
	if err := forever.Set("-1"); err != nil || forever.String() != "-1" {
		t.Errorf("String after -1: %q %v", forever.String(), err)
	}
	bounded := NewDuration(&d, time.Second, false)
	for _, bad := range []string{"-1", "-1s", "7d", "soon"} {
		if err := bounded.Set(bad); err == nil {
			t.Errorf("Set(%q) = nil error", bad)
		}
	}
}

func TestOneOf(t *testing.T) {
	var s string
	v := NewOneOf(&s, "info", "debug", "info")
	if err := v.Set("DEBUG"); err != nil || s != "debug" {
		t.Fatalf("%q %v", s, err)
	}
	if err := v.Set("trace"); err == nil || !strings.Contains(err.Error(), "debug, info") {
		t.Fatalf("error %v", err)
	}
}
