//go:build !linux

package log

import "github.com/runnel-io/runnel/log/vfs"

// adviseWillNeed is a no-op here: the kernel's own read-ahead applies.
func adviseWillNeed(vfs.File, int64, int64) {}
