package quic

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// The bulk channel: every connection may add one TLS 1.3 connection over
// TCP, to the listener's port number on TCP. Once it is attached, each
// side moves all its frames to it: one QUIC connection moves about 450
// MB/s on loopback, CPU-bound, TLS over TCP about 1,660 MB/s, and a small
// frame crosses TCP in a third of QUIC's time (quic-go hands each packet
// through several goroutines and acknowledges in user space;
// docs/PERFORMANCE.md). Order is kept by a marker: the sender writes a
// bulkMarker length on the QUIC stream after its last frame there, then
// every later frame on the TCP connection; the reader, meeting the
// marker, reads only from TCP from then on. The QUIC connection stays:
// it carries the close reason, and its packets (keep-alives) count as
// hearing from the peer.
//
// The dialer opens it after the QUIC connection authenticated:
//
//	dialer   → listener  "pxsb" 2, then the 32-byte id of the QUIC connection
//	listener → dialer    32-byte random nonce
//	dialer   → listener  HMAC-SHA256(key, "pxsh-bulk-v1" || nonce || TCP exporter || QUIC exporter)
//	listener → dialer    status byte (0 ok, 1 refused)
//
// The TLS session pins the same certificate as QUIC; the id is a hash of
// the QUIC connection's exporter, and the proof binds both sessions, so a
// bulk channel joins only the connection whose key proof it repeats.
const (
	bulkHello   = "pxsb\x02" // 2: every frame moves to the channel
	bulkLabel   = "pxsh-bulk-v1"
	bulkIDLabel = "pxsh bulk id"
	bulkALPN    = "pxsh-bulk/1"
	// bulkMarker, as a frame length on the QUIC stream, says that every
	// later frame is on the bulk channel.
	bulkMarker = 0xFFFFFFFF
)

// BulkMin was the smallest frame sent on the bulk channel; since the
// switch (every frame moves to the channel once it is attached) it only
// names the size above which a frame is called large.
const BulkMin = 256 << 10

// bulkInlineMax is the largest frame a caller writes to the bulk channel
// itself (when the socket's send queue is empty, such a write fits in the
// socket's buffer at once).
const bulkInlineMax = 8 << 10

// bulkReadBuf is the bulk reader's buffer size.
const bulkReadBuf = 256 << 10

// bulkIDOf is the id a bulk channel names its QUIC connection by.
func bulkIDOf(quicExporter []byte) []byte {
	h := sha256.New()
	h.Write([]byte(bulkIDLabel))
	h.Write(quicExporter)
	return h.Sum(nil)
}

func bulkMAC(key, nonce, tcpExp, quicExp []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(bulkLabel))
	m.Write(nonce)
	m.Write(tcpExp)
	m.Write(quicExp)
	return m.Sum(nil)
}

// bulk is a connection's TLS-over-TCP channel.
type bulk struct {
	tc *tls.Conn
	br *bufio.Reader
	sc syscall.RawConn // the socket, for sendIdle (nil: unknown)
}

// attachBulk makes b the connection's bulk channel: the writer may send
// large frames on it from now on, and the reader finds them there. It
// closes b when the connection closes, and the connection when b fails.
func (c *conn) attachBulk(tc *tls.Conn) {
	b := &bulk{tc: tc, br: bufio.NewReaderSize(tc, bulkReadBuf)}
	if s, ok := tc.NetConn().(syscall.Conn); ok {
		b.sc, _ = s.SyscallConn()
	}
	c.wmu.Lock()
	c.bulk = b
	c.wmu.Unlock()
	c.bulkOnce.Do(func() { c.bulkReady <- b })
	context.AfterFunc(c.qc.Context(), func() { tc.Close() })
}

// switchToBulk follows the switch marker: the peer sends every later
// frame on the bulk channel, so the reader reads only there from now on.
func (c *conn) switchToBulk() ([]byte, error) {
	if c.noBulk {
		c.rerr = errors.New("read frame: a bulk marker on a connection without a bulk channel")
		_ = c.close(codeBadFrame, "bulk marker without a bulk channel")
		return nil, c.rerr
	}
	select {
	case c.rbulk = <-c.bulkReady:
	case <-c.qc.Context().Done():
		return nil, fmt.Errorf("read frame: %w", c.cause(net.ErrClosed))
	}
	return c.readBulk()
}

// readBulk reads a frame from the bulk channel. The peer proved the key,
// so a frame is allocated at its announced size (at most the limit).
func (c *conn) readBulk() ([]byte, error) {
	b, err := readFrame(c.rbulk.br, c.maxFrame, &c.rhdr)
	switch {
	case err == nil:
		return b, nil
	case err == errBulkMarker:
		c.rerr = errors.New("read frame: a bulk marker on the bulk channel")
		_ = c.close(codeBadFrame, "bulk marker on the bulk channel")
		return nil, c.rerr
	}
	if tooLarge, ok := errors.AsType[*frameTooLargeError](err); ok {
		c.rerr = fmt.Errorf("read frame: %w", tooLarge)
		_ = c.close(codeTooLarge, tooLarge.Error())
		return nil, c.rerr
	}
	return nil, c.bulkFailed(err)
}

// bulkCloseWait is how long a reader whose bulk channel ended waits for
// the QUIC connection's close, which carries the reason: the peer closes
// the channel when its connection closes, and the two may arrive in
// either order.
const bulkCloseWait = time.Second

// bulkFailed reports the end of the bulk channel: the connection's close
// reason when the connection closed, else a failure of the channel, after
// which the connection is closed (a frame may be half read).
func (c *conn) bulkFailed(err error) error {
	t := time.NewTimer(bulkCloseWait)
	defer t.Stop()
	select {
	case <-c.qc.Context().Done():
		c.rerr = fmt.Errorf("read frame: %w", context.Cause(c.qc.Context()))
	case <-t.C:
		c.rerr = fmt.Errorf("read frame: bulk channel: %w", unexpected(err))
		_ = c.close(codeBadFrame, "bulk channel failed")
	}
	return c.rerr
}

// BulkActive reports whether the connection has its bulk channel.
func (c *Conn) BulkActive() bool {
	c.impl.wmu.Lock()
	defer c.impl.wmu.Unlock()
	return c.impl.bulk != nil
}

// dialBulk opens the bulk channel of c to addr's TCP port and attaches it;
// a failure leaves c on QUIC alone (and is returned for the log).
func dialBulk(ctx context.Context, c *conn, addr string, tlsConf *tls.Config, key []byte) error {
	quicExp, err := exporterOf(c.qc)
	if err != nil {
		return err
	}
	conf := tlsConf.Clone()
	conf.NextProtos = []string{bulkALPN}
	d := tls.Dialer{Config: conf}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	tc := nc.(*tls.Conn)
	if dl, ok := ctx.Deadline(); ok {
		tc.SetDeadline(dl)
	}
	fail := func(err error) error { tc.Close(); return err }
	if _, err := tc.Write(append([]byte(bulkHello), bulkIDOf(quicExp)...)); err != nil {
		return fail(err)
	}
	nonce := make([]byte, nonceLen)
	if _, err := io.ReadFull(tc, nonce); err != nil {
		return fail(fmt.Errorf("read nonce: %w", err))
	}
	cs := tc.ConnectionState()
	tcpExp, err := cs.ExportKeyingMaterial(exportLabel, nil, sha256.Size)
	if err != nil {
		return fail(err)
	}
	if _, err := tc.Write(bulkMAC(key, nonce, tcpExp, quicExp)); err != nil {
		return fail(err)
	}
	var status [1]byte
	if _, err := io.ReadFull(tc, status[:]); err != nil {
		return fail(fmt.Errorf("read status: %w", err))
	}
	if status[0] != statusOK {
		return fail(fmt.Errorf("%w: bulk channel refused", ErrAuth))
	}
	tc.SetDeadline(time.Time{})
	c.attachBulk(tc)
	return nil
}

// serveBulk authenticates an incoming bulk channel and attaches it to the
// connection it names.
func (l *listener) serveBulk(nc net.Conn) error {
	tc := tls.Server(nc, l.bulkTLS)
	tc.SetDeadline(time.Now().Add(l.cfg.HandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("bulk handshake: %w", err)
	}
	hello := make([]byte, len(bulkHello)+sha256.Size)
	if _, err := io.ReadFull(tc, hello); err != nil {
		return fmt.Errorf("read bulk hello: %w", err)
	}
	if string(hello[:len(bulkHello)]) != bulkHello {
		return errors.New("read bulk hello: bad hello")
	}
	l.mu.Lock()
	c := l.bulkWait[string(hello[len(bulkHello):])]
	l.mu.Unlock()
	nonce := make([]byte, nonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	if _, err := tc.Write(nonce); err != nil {
		return fmt.Errorf("write nonce: %w", err)
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(tc, got); err != nil {
		return fmt.Errorf("read proof: %w", err)
	}
	cs := tc.ConnectionState()
	tcpExp, err := cs.ExportKeyingMaterial(exportLabel, nil, sha256.Size)
	if err != nil {
		return err
	}
	if c == nil || !hmac.Equal(got, bulkMAC(l.cfg.Key, nonce, tcpExp, c.quicExp)) {
		tc.Write([]byte{statusRefuse})
		return errWrongKey
	}
	l.mu.Lock()
	delete(l.bulkWait, string(hello[len(bulkHello):]))
	l.mu.Unlock()
	tc.SetDeadline(time.Time{})
	if _, err := tc.Write([]byte{statusOK}); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	// The dialer may send bulk frames as soon as it reads the status; our
	// reader, meeting their markers first, waits for this attachment.
	c.attachBulk(tc)
	return nil
}
