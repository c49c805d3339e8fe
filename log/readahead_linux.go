package log

import (
	"syscall"

	"github.com/runnel-io/runnel/log/vfs"
)

// adviseWillNeed asks the kernel to start reading n bytes at pos of f into
// the page cache in the background (posix_fadvise POSIX_FADV_WILLNEED),
// when f is an operating-system file. It is a hint: errors are ignored.
func adviseWillNeed(f vfs.File, pos, n int64) {
	osf, ok := f.(vfs.OSFiler)
	if !ok || n <= 0 {
		return
	}
	rc, err := osf.OSFile().SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		const willNeed = 3 // POSIX_FADV_WILLNEED
		syscall.Syscall6(syscall.SYS_FADVISE64, fd, uintptr(pos), uintptr(n), willNeed, 0, 0)
	})
}
