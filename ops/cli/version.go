package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is the release version of the binary, set at link time:
//
//	go build -ldflags "-X github.com/runnel-io/runnel/ops/cli.Version=v0.1.0"
//
// It is "dev" for builds that don't set it.
var Version = "dev"

// Commit is the VCS revision, optionally set at link time like Version. When
// empty, the revision the go command stamped into the binary (vcs.revision)
// is used, if there is one: builds with -buildvcs=false, or from outside a
// repository, have none.
var Commit = ""

// BuildInfo describes the running binary.
type BuildInfo struct {
	Version   string // Version, "dev" by default
	Commit    string // VCS revision, "" when unknown
	Modified  bool   // the working tree had uncommitted changes (from vcs.modified)
	GoVersion string // runtime.Version() of the toolchain that built the binary
	Platform  string // GOOS/GOARCH
}

// ReadBuildInfo returns the build information of the running binary.
func ReadBuildInfo() BuildInfo {
	info := BuildInfo{
		Version:   Version,
		Commit:    Commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String formats the information as `runnel version` prints it.
func (b BuildInfo) String() string {
	commit := b.Commit
	if commit == "" {
		commit = "unknown"
	}
	if b.Modified {
		commit += " (modified)"
	}
	return fmt.Sprintf("runnel %s\ncommit %s\ngo     %s %s\n", b.Version, commit, b.GoVersion, b.Platform)
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), ReadBuildInfo())
			return err
		},
	}
}
