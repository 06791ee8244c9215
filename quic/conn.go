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

	// Write side.
	wmu  sync.Mutex
	bw   *bufio.Writer
	whdr [frameHeaderLen]byte
}

func newConn(qc *quicgo.Conn, st *quicgo.Stream, cfg *Config) *Conn {
	return &Conn{impl: &conn{
		qc:       qc,
		st:       st,
		maxFrame: cfg.MaxFrame,
		br:       bufio.NewReaderSize(st, readBufSize),
		bw:       bufio.NewWriterSize(st, writeBufSize),
	}}
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
	binary.BigEndian.PutUint32(c.whdr[:], uint32(n))
	if _, err := c.bw.Write(c.whdr[:]); err != nil {
		return c.writeErr(err)
	}
	for _, p := range parts {
		if _, err := c.bw.Write(p); err != nil {
			return c.writeErr(err)
		}
	}
	if err := c.bw.Flush(); err != nil {
		return c.writeErr(err)
	}
	return nil
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
