package quic

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Frame pipes: on a local frame channel each side reads its frames from
// a pipe of its own, whose write end it passes to the peer over the Unix
// socket (SCM_RIGHTS) before the channel is attached; the socket stays
// open beside the pipes and is closed with them.
//
// A Unix stream socket wakes the writer's side each time the reader
// takes a frame: freeing the frame's buffer calls the writing socket's
// write_space, which wakes every epoll set that holds that socket (Go's
// poller registers each socket for reading and writing), so every frame
// read wakes the peer process from epoll_wait for nothing. A pipe wakes
// its writer only when it was full. Between two processes on the 2-core
// test VM a 64-byte round trip took 25-30 µs on a socket and 12-15 µs
// on two pipes, with about half the CPU on each side
// (docs/PERFORMANCE.md).
//
// The exchange, right after the status byte: the listener sends one
// byte, 'p' with its pipe's write end or 's' without it (frames to it
// stay on the socket), then the dialer answers the same way.
//
// Pipes keep the kernel's default size (64 KiB: frames of BulkMin and
// more go to the bulk channel anyway) and count against the user's pipe
// pages (/proc/sys/fs/pipe-user-pages-soft, by default 16,384 pages of
// 4 KiB for all of a user's pipes; over it new pipes get 8 KiB). A side
// offers no pipe when the kernel gave it less than the default (that
// limit was reached) or when the process holds maxFramePipes already, so
// that many connections in one process leave the user's other pipes
// their size.
const (
	pipeOffer     = 'p'
	pipeNone      = 's'
	minFramePipe  = 64 << 10
	maxFramePipes = 256

	fGetPipeSize = 1032 // F_GETPIPE_SZ
)

// framePipes counts the frame pipes this process reads from.
var framePipes atomic.Int32

// pipesOff is set by PXSH_FRAME_PIPES=0: this process offers no frame
// pipe, so the frames sent to it stay on the socket (for comparisons:
// on an idle VM the socket's extra wake-ups can help, see
// docs/PERFORMANCE.md).
var pipesOff = os.Getenv("PXSH_FRAME_PIPES") == "0"

// withPipes runs the exchange on the local frame channel nc (first: the
// listener's side, which sends first) by deadline and returns the
// channel to attach.
func withPipes(nc net.Conn, first bool, deadline time.Time) (net.Conn, error) {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return nc, nil
	}
	uc.SetDeadline(deadline)
	defer uc.SetDeadline(time.Time{})
	r, w := newFramePipe()
	var peer *os.File
	var err error
	if first {
		if err = sendPipe(uc, w); err == nil {
			peer, err = recvPipe(uc)
		}
	} else if peer, err = recvPipe(uc); err == nil {
		err = sendPipe(uc, w)
	}
	if w != nil {
		w.Close() // the peer's copy alone keeps the pipe open now
	}
	pc := &pipeConn{sock: uc, r: r, w: peer}
	if err == nil {
		err = pc.rawConns()
	}
	if err != nil {
		pc.closePipes()
		return nil, fmt.Errorf("frame pipes: %w", err)
	}
	return pc, nil
}

// newFramePipe makes the pipe this side reads its frames from, or
// returns nils when it should not have one.
func newFramePipe() (r, w *os.File) {
	if pipesOff {
		return nil, nil
	}
	if framePipes.Add(1) > maxFramePipes {
		framePipes.Add(-1)
		return nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		framePipes.Add(-1)
		return nil, nil
	}
	size := 0
	if fd, ok := fileFD(w); ok {
		n, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, fGetPipeSize, 0)
		if errno == 0 {
			size = int(n)
		}
	}
	if size < minFramePipe {
		r.Close()
		w.Close()
		framePipes.Add(-1)
		return nil, nil
	}
	return r, w
}

// fileFD returns f's descriptor without making it blocking (as Fd does).
func fileFD(f *os.File) (fd uintptr, ok bool) {
	sc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	err = sc.Control(func(d uintptr) { fd = d })
	return fd, err == nil
}

// sendPipe sends w (nil: none) to the peer.
func sendPipe(uc *net.UnixConn, w *os.File) error {
	if w == nil {
		_, err := uc.Write([]byte{pipeNone})
		return err
	}
	fd, ok := fileFD(w)
	if !ok {
		_, err := uc.Write([]byte{pipeNone})
		return err
	}
	_, _, err := uc.WriteMsgUnix([]byte{pipeOffer}, syscall.UnixRights(int(fd)), nil)
	return err
}

// recvPipe receives the peer's offer: the write end of its pipe, or nil.
func recvPipe(uc *net.UnixConn) (*os.File, error) {
	var b [1]byte
	oob := make([]byte, syscall.CmsgSpace(4))
	n, oobn, flags, _, err := uc.ReadMsgUnix(b[:], oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	if oobn > 0 {
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			got, err := syscall.ParseUnixRights(&m)
			if err == nil {
				fds = append(fds, got...)
			}
		}
	}
	switch {
	case n == 1 && b[0] == pipeNone && len(fds) == 0:
		return nil, nil
	case n == 1 && b[0] == pipeOffer && len(fds) == 1 && flags&syscall.MSG_CTRUNC == 0:
		syscall.CloseOnExec(fds[0]) // a child process must not hold it open
		if err := syscall.SetNonblock(fds[0], true); err != nil {
			syscall.Close(fds[0])
			return nil, err
		}
		return os.NewFile(uintptr(fds[0]), "frame pipe"), nil
	}
	for _, fd := range fds {
		syscall.Close(fd)
	}
	if n == 0 {
		return nil, io.ErrUnexpectedEOF
	}
	return nil, errors.New("bad pipe offer")
}

// pipeConn is a local frame channel whose frames travel on pipes: in on
// r, out on w; a direction without its pipe stays on the socket. Its
// reads and writes are raw system calls (rawRead, rawWrite).
type pipeConn struct {
	sock   *net.UnixConn
	r, w   *os.File
	rc, wc syscall.RawConn // r and w, or the socket without them
	closed sync.Once
}

func (p *pipeConn) Read(b []byte) (int, error) {
	n, err := rawConnRead(p.rc, b)
	return n, pipeErr(err)
}

func (p *pipeConn) Write(b []byte) (int, error) {
	n, err := rawConnWrite(p.wc, b)
	return n, pipeErr(err)
}

// pipeErr reports a closed pipe as a closed connection.
func pipeErr(err error) error {
	if errors.Is(err, errRawClosed) {
		return net.ErrClosed
	}
	return err
}

// rawConns sets rc and wc: the pipes p has, the socket otherwise.
func (p *pipeConn) rawConns() (err error) {
	p.rc, err = rawConnOf(p.r, p.sock)
	if err == nil {
		p.wc, err = rawConnOf(p.w, p.sock)
	}
	return err
}

func rawConnOf(f *os.File, sock *net.UnixConn) (syscall.RawConn, error) {
	if f != nil {
		return f.SyscallConn()
	}
	return sock.SyscallConn()
}

// Close closes the pipes and the socket.
func (p *pipeConn) Close() error {
	p.closePipes()
	return p.sock.Close()
}

func (p *pipeConn) closePipes() {
	p.closed.Do(func() {
		if p.r != nil {
			p.r.Close()
			framePipes.Add(-1)
		}
		if p.w != nil {
			p.w.Close()
		}
	})
}

func (p *pipeConn) LocalAddr() net.Addr  { return p.sock.LocalAddr() }
func (p *pipeConn) RemoteAddr() net.Addr { return p.sock.RemoteAddr() }

func (p *pipeConn) SetDeadline(t time.Time) error {
	p.SetReadDeadline(t)
	return p.SetWriteDeadline(t)
}

func (p *pipeConn) SetReadDeadline(t time.Time) error {
	if p.r == nil {
		return p.sock.SetReadDeadline(t)
	}
	return p.r.SetReadDeadline(t)
}

func (p *pipeConn) SetWriteDeadline(t time.Time) error {
	if p.w == nil {
		return p.sock.SetWriteDeadline(t)
	}
	return p.w.SetWriteDeadline(t)
}

// writeRaw is the descriptor frames are written to, for tryWrite.
func (p *pipeConn) writeRaw() syscall.RawConn { return p.wc }
