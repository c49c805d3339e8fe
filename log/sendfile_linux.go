package log

import (
	"io"
	"sync/atomic"
	"syscall"

	"github.com/runnel-io/runnel/log/vfs"
)

// sendFile copies n bytes at pos of f to w with sendfile(2), without the
// bytes passing through user space, when w is a socket and f an operating-
// system file. It uses an explicit offset, so concurrent readers of the
// same file do not disturb each other. handled is false when it could not
// be used; nothing was written then.
func sendFile(w io.Writer, f vfs.File, pos, n int64) (written int64, handled bool, err error) {
	osf, ok := f.(vfs.OSFiler)
	if !ok {
		return 0, false, nil
	}
	sc, ok := w.(syscall.Conn)
	if !ok {
		return 0, false, nil
	}
	dst, err := sc.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	src, err := osf.OSFile().SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var opErr error
	cerr := src.Control(func(srcFd uintptr) {
		off := pos
		opErr = dst.Write(func(dstFd uintptr) bool {
			for written < n {
				chunk := min(n-written, 1<<30)
				m, err := syscall.Sendfile(int(dstFd), int(srcFd), &off, int(chunk))
				if m > 0 {
					written += int64(m)
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket is writable
				case err == syscall.EINTR:
					continue
				case err != nil:
					opErr = err
					return true
				case m == 0:
					opErr = io.ErrUnexpectedEOF // the file shrank under us
					return true
				}
			}
			return true
		})
	})
	if cerr != nil {
		return written, written > 0, cerr
	}
	if written == 0 && opErr != nil && (opErr == syscall.EINVAL || opErr == syscall.ENOSYS) {
		return 0, false, nil // not a socket sendfile can write to: fall back
	}
	sendfileCalls.Add(1)
	return written, true, opErr
}

// sendfileCalls counts transfers done with sendfile, for tests.
var sendfileCalls atomic.Int64
