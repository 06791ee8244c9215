package quic

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	quicgo "github.com/quic-go/quic-go"
)

// Buffer sizes of a connection's frame stream. Writes of parts at least
// as large as the write buffer go to the stream without a copy.
const (
	readBufSize  = 64 << 10
	writeBufSize = 32 << 10
)

// conn is an authenticated connection and its one frame stream.
type conn struct {
	qc       *quicgo.Conn
	st       *quicgo.Stream
	maxFrame int

	// Read side: used by one goroutine at a time.
	br   *bufio.Reader
	rhdr [frameHeaderLen]byte
	rerr error // sticky once the connection was closed for a bad frame

	// Write side: frames are queued; the writer that finds no flush in
	// progress writes the queue until it is empty, so frames written
	// meanwhile by others leave together in few stream writes.
	wmu      sync.Mutex
	wcond    sync.Cond
	queue    []segment // segments waiting to be written
	spare    [][]byte  // owned buffers to reuse
	queued   int       // bytes queued, for backpressure
	flushing bool
	werr     error // sticky once a write failed
}

// segment is a piece of the write queue: a copy we own, or a caller's
// large part.
type segment struct {
	b   []byte
	own bool
}

// maxQueued bounds the bytes a connection queues before writers wait.
const maxQueued = 32 << 20

func newConn(qc *quicgo.Conn, st *quicgo.Stream, cfg *Config) *Conn {
	c := &conn{
		qc:       qc,
		st:       st,
		maxFrame: cfg.MaxFrame,
		br:       bufio.NewReaderSize(st, readBufSize),
	}
	c.wcond.L = &c.wmu
	return &Conn{impl: c}
}

func (c *conn) readFrame() ([]byte, error) {
	if c.rerr != nil {
		return nil, c.rerr
	}
	b, err := readFrame(c.br, c.maxFrame, &c.rhdr)
	if err == nil {
		return b, nil
	}
	if tooLarge, ok := errors.AsType[*frameTooLargeError](err); ok {
		c.rerr = fmt.Errorf("read frame: %w", tooLarge)
		_ = c.close(codeTooLarge, tooLarge.Error())
		return nil, c.rerr
	}
	if err == io.EOF {
		return nil, io.EOF
	}
	return nil, fmt.Errorf("read frame: %w", c.cause(err))
}

// cause prefers the connection's close reason over the stream error it
// produced (they are the same error once the connection is gone).
func (c *conn) cause(err error) error {
	select {
	case <-c.qc.Context().Done():
		if cause := context.Cause(c.qc.Context()); cause != nil && !errors.Is(err, cause) {
			return fmt.Errorf("%w (connection: %w)", err, cause)
		}
	default:
	}
	return err
}

func (c *conn) writeFrame(parts ...[]byte) error {
	n, err := frameLen(parts, c.maxFrame)
	if err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for c.queued > maxQueued && c.werr == nil {
		c.wcond.Wait()
	}
	if c.werr != nil {
		return c.werr
	}
	var hdr [frameHeaderLen]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(n))
	c.appendSmall(hdr[:])
	for _, p := range parts {
		if len(p) >= writeBufSize {
			c.queue = append(c.queue, segment{p, false}) // large parts go out without a copy
		} else {
			c.appendSmall(p)
		}
	}
	c.queued += frameHeaderLen + n
	if c.flushing {
		return nil // the writer flushing now takes this frame along
	}
	c.flushing = true
	return c.flush()
}

// appendSmall copies b into the tail segment; c.wmu is held.
func (c *conn) appendSmall(b []byte) {
	if n := len(c.queue); n > 0 && c.queue[n-1].own {
		c.queue[n-1].b = append(c.queue[n-1].b, b...)
		return
	}
	var buf []byte
	if n := len(c.spare); n > 0 {
		buf, c.spare = c.spare[n-1][:0], c.spare[:n-1]
	} else {
		buf = make([]byte, 0, 512)
	}
	c.queue = append(c.queue, segment{append(buf, b...), true})
}

// flush writes queued segments until the queue is empty; c.wmu is held
// and c.flushing set. Frames that other writers queue meanwhile leave in
// the same stream writes.
func (c *conn) flush() error {
	for len(c.queue) > 0 {
		segs := c.queue
		c.queue = nil
		c.wmu.Unlock()
		n := 0
		var err error
		for _, s := range segs {
			if _, err = c.st.Write(s.b); err != nil {
				break
			}
			n += len(s.b)
		}
		c.wmu.Lock()
		for _, s := range segs {
			if s.own && cap(s.b) <= 1<<20 && len(c.spare) < 4 {
				c.spare = append(c.spare, s.b)
			}
		}
		if err != nil {
			c.werr = c.writeErr(err)
			c.queue, c.queued = nil, 0
			break
		}
		c.queued -= n
		c.wcond.Broadcast()
	}
	c.flushing = false
	c.wcond.Broadcast()
	return c.werr
}

// writeErr reports a failed write. The stream is unusable afterwards (a
// frame may be half written), so the connection is closed.
func (c *conn) writeErr(err error) error {
	err = fmt.Errorf("write frame: %w", c.cause(err))
	_ = c.qc.CloseWithError(codeBadFrame, "write failed")
	return err
}

func (c *conn) close(code uint64, reason string) error {
	return c.qc.CloseWithError(quicgo.ApplicationErrorCode(code), reason)
}

func (c *conn) remoteAddr() net.Addr { return c.qc.RemoteAddr() }

func (c *conn) done() <-chan struct{} { return c.qc.Context().Done() }

func (c *conn) err() error {
	select {
	case <-c.qc.Context().Done():
		return context.Cause(c.qc.Context())
	default:
		return nil
	}
}
