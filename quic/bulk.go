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
	"time"
)

// The bulk channel: every connection may add one TLS 1.3 connection over
// TCP, to the listener's port number on TCP, that carries its large frames
// (BulkMin bytes or more). One QUIC connection moves about 450 MB/s on
// loopback, CPU-bound; TLS over TCP about 1,660 MB/s (see
// docs/ARCHITECTURE.md). It carries the chunks of streamed bodies
// (stream.go), whose heads keep their order on the QUIC stream; a plain
// frame of BulkMin bytes or more travels as a stream that the reader
// assembles. Everything else stays on QUIC.
//
// The dialer opens it after the QUIC connection authenticated:
//
//	dialer   → listener  "pxsb" 1, then the 32-byte id of the QUIC connection
//	listener → dialer    32-byte random nonce
//	dialer   → listener  HMAC-SHA256(key, "pxsh-bulk-v1" || nonce || TCP exporter || QUIC exporter)
//	listener → dialer    status byte (0 ok, 1 refused)
//
// The TLS session pins the same certificate as QUIC; the id is a hash of
// the QUIC connection's exporter, and the proof binds both sessions, so a
// bulk channel joins only the connection whose key proof it repeats.
const (
	bulkHello   = "pxsb\x01"
	bulkLabel   = "pxsh-bulk-v1"
	bulkIDLabel = "pxsh bulk id"
	bulkALPN    = "pxsh-bulk/1"
)

// BulkMin is the smallest frame sent on the bulk channel when there is
// one; smaller frames stay on QUIC, whose latency is lower.
const BulkMin = 256 << 10

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

// bulk is a connection's bulk channel: TLS over TCP, or for a peer on
// the same host a Unix socket (bulk_local.go).
type bulk struct {
	nc    net.Conn
	br    *bufio.Reader
	local bool // the Unix socket
}

// attachBulk makes b the connection's bulk channel: the writer may send
// large frames on it from now on, and the reader finds them there. It
// closes b when the connection closes, and the connection when b fails.
func (c *conn) attachBulk(nc net.Conn) {
	_, local := nc.(*net.UnixConn)
	b := &bulk{nc: nc, br: bufio.NewReaderSize(nc, bulkReadBuf), local: local}
	c.wmu.Lock()
	c.bulk = b
	c.wmu.Unlock()
	c.bulkOnce.Do(func() {
		go c.readChunks(b)
		go c.bulkLoop(b)
	})
	context.AfterFunc(c.qc.Context(), func() { nc.Close() })
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
	deadline := time.Now().Add(l.cfg.HandshakeTimeout)
	tc.SetDeadline(deadline)
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
	c := l.bulkConn(string(hello[len(bulkHello):]), deadline)
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
