package quic

import (
	"syscall"
	"unsafe"
)

// sendIdle reports whether the channel's socket has nothing in its send
// queue (everything written was taken by the peer's kernel), so that a
// small write cannot block.
func (b *bulk) sendIdle() bool {
	if b.sc == nil {
		return false
	}
	var n int32
	var errno syscall.Errno
	err := b.sc.Control(func(fd uintptr) {
		_, _, errno = syscall.RawSyscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	})
	return err == nil && errno == 0 && n == 0
}

// tryWrite writes as much of p as a local channel's socket takes now,
// without waiting; ok is false when the channel is not a plain local
// socket (the caller then asks sendIdle). One write, instead of asking
// the send queue and then writing.
func (b *bulk) tryWrite(p []byte) (n int, err error, ok bool) {
	if !b.local || b.sc == nil {
		return 0, nil, false
	}
	var errno error
	if err := b.sc.Write(func(fd uintptr) bool {
		n, errno = rawWrite(fd, p)
		return true // never wait: what is left goes to the writer
	}); err != nil {
		return 0, err, true
	}
	if n < 0 {
		n = 0
	}
	if errno == syscall.EAGAIN || errno == syscall.EINTR {
		errno = nil
	}
	return n, errno, true
}
