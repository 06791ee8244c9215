package quic

import (
	"syscall"
	"unsafe"
)

// sendIdle reports whether the bulk channel's socket has nothing in its
// send queue (every byte written was taken by the peer's kernel), so that
// a small write cannot block.
func (b *bulk) sendIdle() bool {
	if b.sc == nil {
		return false
	}
	var n int32
	var errno syscall.Errno
	if err := b.sc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	}); err != nil || errno != 0 {
		return false
	}
	return n == 0
}
