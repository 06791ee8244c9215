package quic

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// allSeals are the seals a memfd body must carry.
const allSeals = unix.F_SEAL_WRITE | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// newMemfd returns a sealed memfd holding the concatenation of parts
// (size bytes). It is written with write(2), so no writable mapping
// stands in the way of F_SEAL_WRITE.
func newMemfd(parts [][]byte, size int64) (*os.File, error) {
	f, err := createMemfd()
	if err != nil {
		return nil, err
	}
	if err := fillMemfd(f, parts, size); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, allSeals); err != nil {
		f.Close()
		return nil, fmt.Errorf("memfd: %w", err)
	}
	return f, nil
}

// createMemfd returns a new empty memfd that can be sealed.
func createMemfd() (*os.File, error) {
	fd, err := unix.MemfdCreate("pxsh-body", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	return os.NewFile(uintptr(fd), "memfd:pxsh-body"), nil
}

// fillMemfd makes f, a memfd not sealed, exactly the concatenation of
// parts (size bytes): the pages it had up to size are written again, not
// allocated anew, and any beyond are freed.
func fillMemfd(f *os.File, parts [][]byte, size int64) error {
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("memfd: %w", err)
	}
	var off int64
	for _, p := range parts {
		for len(p) > 0 { // in pieces, as readPieces
			n := min(len(p), readPiece)
			if _, err := f.WriteAt(p[:n], off); err != nil {
				return fmt.Errorf("memfd: %w", err)
			}
			p, off = p[n:], off+int64(n)
			runtime.Gosched()
		}
	}
	if off != size {
		return fmt.Errorf("memfd: wrote %d bytes of %d", off, size)
	}
	return nil
}

// checkMemfd checks that f is a memfd (or another shared-memory file)
// holding exactly size bytes, and reports whether it carries all of
// allSeals: only a sealed memfd may be mapped, since nothing can change
// it; one without them is read (copied) before it is acknowledged.
func checkMemfd(f *os.File, size int64) (sealed bool, err error) {
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil {
		return false, fmt.Errorf("memfd: not a memfd: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, fmt.Errorf("memfd: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, errors.New("memfd: not a regular file")
	}
	if st.Size != size {
		return false, fmt.Errorf("memfd: %d bytes, %d announced", st.Size, size)
	}
	return seals&allSeals == allSeals, nil
}

// copyFile copies n bytes of src from off to w: with sendfile(2) when w
// is a file, else through a buffer.
func copyFile(w io.Writer, src *os.File, off, n int64) (int64, error) {
	dst, ok := w.(*os.File)
	if !ok {
		return copyFileGeneric(w, src, off, n)
	}
	var done int64
	for done < n {
		o := off + done
		m, err := unix.Sendfile(int(dst.Fd()), int(src.Fd()), &o, int(min(n-done, readPiece)))
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil && done == 0 && (err == unix.EINVAL || err == unix.ENOSYS) {
			return copyFileGeneric(w, src, off, n)
		}
		if err != nil {
			return done, err
		}
		if m == 0 {
			return done, io.ErrUnexpectedEOF
		}
		done += int64(m)
	}
	return done, nil
}

// prefault maps in the pages of buf, a fresh buffer that a memfd is
// about to be read into, in one call (MADV_POPULATE_WRITE): cheaper than
// a page fault per page during the read (10 MiB: 4.8 ms against 8.5 ms).
// Kernels without it (before 5.14) take the faults.
func prefault(buf []byte) {
	const page = 4096
	if len(buf) < 1<<20 {
		return
	}
	a := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	off := int((page - a%page) % page)
	n := (len(buf) - off) / page * page
	unix.Madvise(buf[off:off+n], unix.MADV_POPULATE_WRITE)
}

// fdReader reads a local bulk channel with recvmsg, keeping the
// descriptors that come with its bytes, in order, for the items that
// announce them.
type fdReader struct {
	uc  *net.UnixConn
	oob []byte

	mu     sync.Mutex
	fds    []*os.File
	closed bool
}

func newFDReader(nc net.Conn) *fdReader {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return nil
	}
	return &fdReader{uc: uc, oob: make([]byte, unix.CmsgSpace(4*maxFDQueue))}
}

func (r *fdReader) Read(p []byte) (int, error) {
	n, oobn, flags, _, err := r.uc.ReadMsgUnix(p, r.oob)
	n = max(n, 0)
	if n == 0 && err == nil && len(p) > 0 || errors.Is(err, io.EOF) {
		err = io.EOF // as Read reports the end of the stream: unwrapped
	}
	if oobn > 0 {
		if ferr := r.keep(r.oob[:oobn]); ferr != nil {
			return n, ferr
		}
	}
	if flags&unix.MSG_CTRUNC != 0 {
		return n, errors.New("bulk channel: descriptors truncated (too many at once)")
	}
	return n, err
}

// keep queues the descriptors of a control message.
func (r *fdReader) keep(oob []byte) error {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return fmt.Errorf("bulk channel: control message: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var bad error
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			bad = fmt.Errorf("bulk channel: control message: %w", err)
			continue
		}
		for _, fd := range fds {
			f := os.NewFile(uintptr(fd), "memfd")
			if r.closed || len(r.fds) >= maxFDQueue {
				f.Close()
				bad = errors.New("bulk channel: descriptors ahead of their items")
				continue
			}
			r.fds = append(r.fds, f)
		}
	}
	return bad
}

// take returns the oldest descriptor received, or nil.
func (r *fdReader) take() *os.File {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fds) == 0 {
		return nil
	}
	f := r.fds[0]
	r.fds = r.fds[1:]
	return f
}

// close closes the descriptors not taken, and any that come later.
func (r *fdReader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, f := range r.fds {
		f.Close()
	}
	r.fds = nil
}

// writeFD writes prefix on nc, a Unix socket, with f's descriptor.
func writeFD(nc net.Conn, prefix []byte, f *os.File) error {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return errors.New("write memfd: not a Unix socket")
	}
	n, _, err := uc.WriteMsgUnix(prefix, unix.UnixRights(int(f.Fd())), nil)
	if err == nil && n < len(prefix) {
		_, err = nc.Write(prefix[n:])
	}
	return err
}

// memfdSupported reports whether this platform passes memfds.
const memfdSupported = true
