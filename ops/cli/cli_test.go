package cli

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// run executes a fresh command tree with args and returns what it wrote to
// stdout and stderr.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRootCommand()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version")
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	for _, want := range []string{"runnel", runtime.Version(), Version} {
		if !strings.Contains(out, want) {
			t.Errorf("version output %q does not contain %q", out, want)
		}
	}
}

func TestVersionRejectsArgs(t *testing.T) {
	if _, _, err := run(t, "version", "extra"); err == nil {
		t.Fatal("version extra: got nil error, want one")
	}
}

func TestUnknownCommand(t *testing.T) {
	_, stderr, err := run(t, "no-such-command")
	if err == nil {
		t.Fatal("no-such-command: got nil error, want one")
	}
	if !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("error %q does not say unknown command", err)
	}
	if !strings.Contains(stderr, "no-such-command") {
		t.Errorf("stderr %q does not name the command", stderr)
	}
}

func TestHelpListsCommands(t *testing.T) {
	out, _, err := run(t, "--help")
	if err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"partition log", "version"} {
		if !strings.Contains(out, want) {
			t.Errorf("help %q does not contain %q", out, want)
		}
	}
}
