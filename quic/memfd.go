package quic

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Memfds (Linux). On the local bulk channel (a Unix socket) a streamed
// body of FDMin bytes or more travels as a memfd instead of chunks: the
// sender writes the body into a memfd once, seals it (F_SEAL_WRITE,
// F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL) and sends the file descriptor
// (SCM_RIGHTS) in a bulk item
//
//	[8 id][4 fdLen]   with the descriptor as ancillary data
//
// whose head carries flagFD. A body marked Unmapped goes instead in a
// memfd not sealed, which its sender writes again once every reader
// released it (fdpool.go). A hop that forwards the body to another local
// peer sends the same descriptor on (a fan-out to n engines is n
// descriptor sends, no byte copied); the receiver checks that it is a
// memfd of exactly the announced size and reads it (pread) into its own
// buffer, or, only when it carries all four seals, may map it. A peer on
// TCP gets the body in chunks read from the memfd. Anything else on the
// channel (a descriptor that is not a memfd, of the wrong size, missing,
// or on TCP) is a malformed item: the connection closes with code 1 and
// its bodies in flight fail.
//
// The receiver acknowledges each memfd once its body is consumed (all
// its references dropped: read, forwarded and sent on, recorded):
//
//	[8 id][4 ackLen]       released: no reader holds it any more
//	[8 id][4 ackHeldLen]   consumed, but a reader may still hold it
//
// on the bulk channel in the other direction. A hop that forwarded a
// memfd not sealed acknowledges it only once each peer it forwarded it
// to did, and with ackHeldLen when one did not release it (its
// connection closed first) or said ackHeldLen itself.
//
// Bounds: a sender has at most maxFDBodies memfds not acknowledged per
// connection, of at most maxFDBytes together (or one memfd of any size);
// a sender waits for an acknowledgement beyond that, and a peer in
// slow-consumer mode that does not acknowledge within StreamStall is
// disconnected. So a stalled receiver pins at most that much memory
// through one connection, and the hop holds at most one descriptor per
// body it forwards. A receiver holds at most maxFDBodies memfds not
// consumed (beyond that it stops reading its bulk channel), and at most
// maxFDQueue descriptors received ahead of their items.
const (
	// fdLen, as a bulk item's length, says a descriptor comes with it.
	fdLen = 0xFFFFFFFB
	// ackLen, as a bulk item's length, acknowledges memfd id, released.
	ackLen = 0xFFFFFFFA
	// ackHeldLen acknowledges memfd id, consumed but perhaps held still.
	ackHeldLen = 0xFFFFFFF9
	// maxFDBytes bounds the bytes of the memfds a sender has not had
	// acknowledged on one connection (beyond one memfd).
	maxFDBytes = 256 << 20
	// flagFD says the stream's body comes as a memfd on the bulk channel.
	flagFD = 4
	// maxFDBodies bounds the memfds a connection holds for bodies not
	// consumed yet.
	maxFDBodies = 16
	// maxFDQueue bounds the descriptors received ahead of their items.
	maxFDQueue = 4
)

// Counts of the bodies this process sent and received as memfds.
var fdSent, fdReceived atomic.Uint64

// MemfdCounts reports how many streamed bodies this process sent and
// received as memfds (for tests and diagnostics).
func MemfdCounts() (sent, received uint64) { return fdSent.Load(), fdReceived.Load() }

// FDMin is the smallest streamed body sent as a memfd to a local peer:
// StreamMin, or PXSH_MEMFD_MIN (bytes; "off" sends every body in chunks,
// for comparisons).
var FDMin = fdMinFromEnv()

func fdMinFromEnv() int64 {
	v := os.Getenv("PXSH_MEMFD_MIN")
	if v == "off" {
		return math.MaxInt64
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		return max(n, StreamMin)
	}
	return StreamMin
}

// sharedFD is the memfd of a body, shared by its branches (Tee) and the
// connections that forward it; the last reference closes it.
type sharedFD struct {
	mu      sync.Mutex
	ready   chan struct{} // closed once f or err is set
	f       *os.File
	sealed  bool // f carries allSeals: it may be mapped
	held    bool // a peer it was forwarded to may hold it still
	err     error
	refs    int
	onClose func(held bool) // frees the receiving connection's slot
}

func newSharedFD() *sharedFD { return &sharedFD{ready: make(chan struct{}), refs: 1} }

// set gives the memfd that arrived, sealed or not; onClose runs once it
// is closed.
func (s *sharedFD) set(f *os.File, sealed bool, onClose func(held bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil || s.err != nil || s.refs == 0 {
		f.Close()
		onClose(false)
		return
	}
	s.f, s.sealed, s.onClose = f, sealed, onClose
	close(s.ready)
}

// isSealed reports whether the memfd that arrived is sealed.
func (s *sharedFD) isSealed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sealed
}

// heldBy records that a peer the memfd was forwarded to may hold it
// still: its acknowledgement says so.
func (s *sharedFD) heldBy() {
	s.mu.Lock()
	s.held = true
	s.mu.Unlock()
}

// fail says the memfd will not come.
func (s *sharedFD) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil || s.err != nil {
		return
	}
	s.err = err
	close(s.ready)
}

// wait returns the memfd once it arrived.
func (s *sharedFD) wait() (*os.File, error) {
	<-s.ready
	return s.f, s.err
}

func (s *sharedFD) ref(n int) {
	s.mu.Lock()
	s.refs += n
	s.mu.Unlock()
}

// unref drops a reference; the last one closes the memfd.
func (s *sharedFD) unref() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	if s.refs > 0 || s.f == nil {
		return
	}
	s.f.Close()
	s.f = nil
	s.err = errors.New("memfd released")
	if s.onClose != nil {
		s.onClose(s.held)
	}
}

// newFDBody returns a body that will come as a memfd.
func newFDBody(size int64, s *sharedFD) *Body {
	return &Body{size: size, mfd: s, gone: make(chan struct{})}
}

// Memfd reports whether the body comes as a memfd (it is then read from
// it, or passed on as it is, at no cost to the sender).
func (b *Body) Memfd() bool { return b.mfd != nil }

// releaseFD drops the body's reference to its memfd, once.
func (b *Body) releaseFD() {
	b.fdOnce.Do(b.mfd.unref)
}

// fdFile waits for the body's memfd.
func (b *Body) fdFile() (*os.File, error) {
	f, err := b.mfd.wait()
	if err != nil {
		b.releaseFD()
		if !errors.Is(err, ErrBodyAborted) {
			err = fmt.Errorf("%w: %w", ErrBodyAborted, err)
		}
	}
	return f, err
}

// nextFD returns the next chunk of a memfd body, read from it.
func (b *Body) nextFD() ([]byte, error) {
	f, err := b.fdFile()
	if err != nil {
		return nil, err
	}
	if b.read == b.size {
		b.releaseFD()
		return nil, io.EOF
	}
	c := make([]byte, min(int64(ChunkSize), b.size-b.read))
	if _, err := f.ReadAt(c, b.read); err != nil {
		b.releaseFD()
		return nil, fmt.Errorf("%w: read memfd: %w", ErrBodyAborted, unexpected(err))
	}
	b.read += int64(len(c))
	return c, nil
}

// bytesFD reads the rest of a memfd body into one buffer.
func (b *Body) bytesFD() ([]byte, error) {
	f, err := b.fdFile()
	if err != nil {
		return nil, err
	}
	defer b.releaseFD()
	buf := make([]byte, b.size-b.read)
	if err := readPieces(f, buf, b.read); err != nil {
		return nil, fmt.Errorf("%w: read memfd: %w", ErrBodyAborted, unexpected(err))
	}
	b.read = b.size
	return buf, nil
}

// readPiece is how much of a memfd is read or written at once: a
// process with one P (an engine) runs its other goroutines between
// pieces, and the kernel holds the process's memory-map lock (prefault)
// and a processor (this kernel does not preempt a system call) only that
// long: 1 MiB of fresh pages takes 0.5-2 ms here, 8 MiB took up to 16.
const readPiece = 1 << 20

// readPieces fills buf from f at off, a piece at a time.
func readPieces(f *os.File, buf []byte, off int64) error {
	for len(buf) > 0 {
		p := buf[:min(len(buf), readPiece)]
		prefault(p)
		if _, err := f.ReadAt(p, off); err != nil {
			return err
		}
		buf, off = buf[len(p):], off+int64(len(p))
		runtime.Gosched()
	}
	return nil
}

// teeFD returns n bodies sharing b's memfd.
func (b *Body) teeFD(n int) []*Body {
	b.mfd.ref(n)
	outs := make([]*Body, n)
	for i := range outs {
		outs[i] = newFDBody(b.size, b.mfd)
	}
	b.releaseFD()
	return outs
}

// WriteTo writes the rest of the body to w. A memfd body is copied in
// the kernel when w is a file (sendfile), without passing through this
// process.
func (b *Body) WriteTo(w io.Writer) (int64, error) {
	if b.mfd != nil {
		f, err := b.fdFile()
		if err != nil {
			return 0, err
		}
		defer b.releaseFD()
		n, err := copyFile(w, f, b.read, b.size-b.read)
		b.read += n
		if err != nil {
			return n, fmt.Errorf("%w: copy memfd: %w", ErrBodyAborted, err)
		}
		return n, nil
	}
	var n int64
	for {
		c, err := b.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		m, err := w.Write(c)
		n += int64(m)
		if err != nil {
			b.Discard()
			return n, err
		}
	}
}

// copyFileGeneric copies n bytes of src from off to w through a buffer.
func copyFileGeneric(w io.Writer, src *os.File, off, n int64) (int64, error) {
	return io.CopyBuffer(w, io.NewSectionReader(src, off, n), make([]byte, ChunkSize))
}

// ownMemfd returns a memfd holding the bytes of b, a body in memory
// (NewBody, NewBodyParts) not read yet: for a body marked Unmapped that a
// pool may keep, one from pool written again (or a new one) and not
// sealed (reused), else a new sealed one. ok is false for another body
// or when memfds are not available.
func ownMemfd(b *Body, pool *fdPool) (f *os.File, reused, ok bool) {
	if b.parts == nil || b.read != 0 || b.size < FDMin {
		return nil, false, false
	}
	if !b.unmapped || b.size > poolBytes || pool == nil {
		f, err := newMemfd(b.parts, b.size)
		return f, false, err == nil
	}
	f = pool.get(b.size)
	if f == nil {
		var err error
		if f, err = createMemfd(); err != nil {
			return nil, false, false
		}
	}
	if err := fillMemfd(f, b.parts, b.size); err != nil {
		f.Close()
		return nil, false, false
	}
	return f, true, true
}

// fdIn takes the memfd of stream id, whose item the bulk reader met:
// the descriptor that came with it, checked, goes to the stream's body.
// It waits while maxFDBodies memfd bodies received are not consumed.
func (c *conn) fdIn(b *bulk, id uint64) error {
	if b.fds == nil {
		return errors.New("a memfd item on a channel that cannot carry one")
	}
	s, _, err := c.in.account(id, fdLen, true)
	if err != nil {
		return err
	}
	f := b.fds.take()
	sealed, err := fdCheck(f, id, s.body.size)
	if err != nil {
		s.body.mfd.fail(err)
		return err
	}
	select {
	case b.slots <- struct{}{}:
	case <-c.qc.Context().Done():
		f.Close()
		err := c.cause(net.ErrClosed)
		s.body.mfd.fail(err)
		return err
	}
	s.body.mfd.set(f, sealed, func(held bool) {
		<-b.slots
		c.bq.add(bulkJob{id: id, ack: true, held: held})
	})
	fdReceived.Add(1)
	return nil
}

// fdCheck checks the descriptor f that came for stream id, of size bytes,
// and reports whether it is sealed; it closes a bad one.
func fdCheck(f *os.File, id uint64, size int64) (sealed bool, err error) {
	if f == nil {
		return false, fmt.Errorf("stream %d: a memfd item without its descriptor", id)
	}
	if sealed, err = checkMemfd(f, size); err != nil {
		f.Close()
		return false, fmt.Errorf("stream %d: %w", id, err)
	}
	return sealed, nil
}

// fdRefused reports a memfd head on a connection whose bulk channel
// cannot carry memfds.
func (c *conn) fdRefused() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.bulk != nil && c.bulk.fds == nil || c.bulk == nil && c.noBulk {
		return errors.New("a memfd stream on a channel that cannot carry one")
	}
	return nil
}

// fdWindow is a sender's memfds not acknowledged yet on one connection.
type fdWindow struct {
	mu      sync.Mutex
	out     map[uint64]*fdOut // by stream id
	bytes   int64
	waiting int           // senders waiting for room
	changed chan struct{} // closed, and replaced, by each acknowledgement
}

func newFDWindow() *fdWindow {
	return &fdWindow{out: map[uint64]*fdOut{}, changed: make(chan struct{})}
}

// fdOut is a memfd sent and not acknowledged yet.
type fdOut struct {
	size  int64
	acked chan struct{} // closed by the acknowledgement
	held  bool          // set before acked closes: ackHeldLen
}

// admit counts memfd id of size bytes as sent when the window has room,
// and returns it; otherwise it returns a channel closed at the next
// acknowledgement and how many senders wait (this one included: the
// caller says when it stops waiting with unwait).
func (w *fdWindow) admit(id uint64, size int64, waited bool) (sent *fdOut, wait <-chan struct{}, waiting int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.out) > 0 && (len(w.out) >= maxFDBodies || w.bytes+size > maxFDBytes) {
		if !waited {
			w.waiting++
		}
		return nil, w.changed, w.waiting
	}
	if waited {
		w.waiting--
	}
	sent = &fdOut{size: size, acked: make(chan struct{})}
	w.out[id] = sent
	w.bytes += size
	return sent, nil, 0
}

// unwait says a sender stopped waiting without being admitted.
func (w *fdWindow) unwait() {
	w.mu.Lock()
	w.waiting--
	w.mu.Unlock()
}

// pending is the number of memfds not acknowledged.
func (w *fdWindow) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.out)
}

// ack takes the acknowledgement of memfd id, held or released.
func (w *fdWindow) ack(id uint64, held bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	sent, ok := w.out[id]
	if !ok {
		return fmt.Errorf("an acknowledgement of memfd %d, which was not sent", id)
	}
	delete(w.out, id)
	sent.held = held
	close(sent.acked)
	w.bytes -= sent.size
	close(w.changed)
	w.changed = make(chan struct{})
	return nil
}

// fdAdmit waits for room in the bulk channel's window for memfd id. A
// peer in slow-consumer mode is disconnected as a slow consumer when a
// memfd waits StreamStall, or when more than maxFDBodies wait: the hop
// forwarding memfds to it holds at most that many for it.
func (c *conn) fdAdmit(b *bulk, id uint64, size int64) (*fdOut, error) {
	var stall <-chan time.Time
	c.wmu.Lock()
	slow := c.policy == queueClose
	c.wmu.Unlock()
	for waited := false; ; waited = true {
		sent, wait, waiting := b.window.admit(id, size, waited)
		if sent != nil {
			return sent, nil
		}
		if slow && waiting > maxFDBodies {
			b.window.unwait()
			return nil, c.slowFD(fmt.Sprintf("%d memfds waited for the peer to take %d earlier ones", waiting, maxFDBodies))
		}
		if slow && stall == nil {
			t := time.NewTimer(StreamStall)
			defer t.Stop()
			stall = t.C
		}
		select {
		case <-wait:
		case <-stall:
			b.window.unwait()
			return nil, c.slowFD(fmt.Sprintf("a memfd waited %v for the peer to take earlier ones", StreamStall))
		case <-c.qc.Context().Done():
			b.window.unwait()
			return nil, fmt.Errorf("write frame: %w", c.cause(net.ErrClosed))
		}
	}
}

// slowFD closes the connection of a peer that does not take its memfds.
func (c *conn) slowFD(why string) error {
	err := fmt.Errorf("write frame: %w: %s", ErrSlowConsumer, why)
	c.wmu.Lock()
	if c.werr == nil {
		c.werr = err
	}
	c.wmu.Unlock()
	_ = c.close(codeSlowConsumer, err.Error())
	return err
}
