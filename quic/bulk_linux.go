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
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	})
	return err == nil && errno == 0 && n == 0
}
