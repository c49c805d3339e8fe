//go:build !linux

package log

import (
	"io"
	"sync/atomic"

	"github.com/runnel-io/runnel/log/vfs"
)

// sendFile is not available here; callers copy through user space.
func sendFile(io.Writer, vfs.File, int64, int64) (int64, bool, error) { return 0, false, nil }

// sendfileCalls counts transfers done with sendfile, for tests.
var sendfileCalls atomic.Int64
