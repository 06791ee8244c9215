package quic

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Raw system calls for the frames of a side channel. The runtime's
// entry to a system call (syscall.Read, os.File.Read, net.Conn.Read)
// wakes its monitor thread, sysmon, whenever it slept because every P
// was idle, so each frame reaching an idle process cost a second
// thread's wake-up (docs/PERFORMANCE.md, "The runtime's monitor thread").
// The descriptors here are non-blocking and registered with the poller:
// a raw read or write cannot block, and RawConn.Read and Write still
// wait on the poller and keep deadlines.

// errRawClosed is what rawConnRead and rawConnWrite return for a closed
// descriptor; the deadline's error is os.ErrDeadlineExceeded.
var errRawClosed = errors.New("use of closed descriptor")

// rawConnRead reads into b as a file's Read does: io.EOF at the end.
func rawConnRead(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var errno error
	err := rc.Read(func(fd uintptr) bool {
		n, errno = rawRead(fd, b)
		for errno == syscall.EINTR {
			n, errno = rawRead(fd, b)
		}
		return errno != syscall.EAGAIN
	})
	switch {
	case err != nil:
		return 0, rawErr(err)
	case errno != nil:
		return 0, errno
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// rawConnWrite writes all of b, waiting on the poller while the
// descriptor takes no more.
func rawConnWrite(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var errno error
	err := rc.Write(func(fd uintptr) bool {
		errno = nil
		for n < len(b) {
			m, e := rawWrite(fd, b[n:])
			if e == syscall.EINTR {
				continue
			}
			if e != nil {
				errno = e
				return e != syscall.EAGAIN
			}
			n += m
		}
		return true
	})
	switch {
	case err != nil:
		return n, rawErr(err)
	case errno != nil:
		return n, errno
	}
	return n, nil
}

// rawErr is a RawConn's error: a deadline, or else the descriptor closed.
func rawErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return errRawClosed
}

// rawWrite and rawRead are write(2) and read(2) without the runtime's
// entry to a system call (syscall.RawSyscall).
func rawWrite(fd uintptr, p []byte) (int, error) { return rawIO(syscall.SYS_WRITE, fd, p) }

func rawRead(fd uintptr, p []byte) (int, error) { return rawIO(syscall.SYS_READ, fd, p) }

func rawIO(trap, fd uintptr, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// rawTCP is a TCP connection whose reads and writes are raw system
// calls, its errors reported as net.TCPConn reports them.
type rawTCP struct {
	*net.TCPConn
	rc syscall.RawConn
}

// rawNet returns nc reading and writing with raw system calls when it
// is a TCP connection, nc itself otherwise.
func rawNet(nc net.Conn) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	return &rawTCP{TCPConn: tc, rc: rc}
}

func (c *rawTCP) Read(b []byte) (int, error) {
	n, err := rawConnRead(c.rc, b)
	return n, c.opErr("read", err)
}

func (c *rawTCP) Write(b []byte) (int, error) {
	n, err := rawConnWrite(c.rc, b)
	return n, c.opErr("write", err)
}

func (c *rawTCP) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// opErr wraps err as net.TCPConn does (io.EOF stays as it is).
func (c *rawTCP) opErr(op string, err error) error {
	switch {
	case err == nil || err == io.EOF:
		return err
	case errors.Is(err, errRawClosed):
		err = net.ErrClosed
	case !errors.Is(err, os.ErrDeadlineExceeded):
		err = os.NewSyscallError(op, err)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
