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

// Side channels: every connection may add two stream connections beside
// its QUIC connection, to the listener's port number on TCP (TLS 1.3), or
// for a peer on the same host a Unix socket (bulk_local.go):
//
//   - the frame channel (chanFrames) carries every frame once it is
//     attached: the writer puts a switch marker on the QUIC stream after
//     its last frame there and writes all later frames on the channel;
//     the reader, meeting the marker, reads only the channel from then
//     on. A small frame crosses TCP or a Unix socket in a third of
//     QUIC's time (quic-go hands each packet through several goroutines
//     and acknowledges in user space; docs/PERFORMANCE.md). The QUIC
//     connection stays: its handshake names both channels, its close
//     reason ends them, and its keep-alives are the liveness signal.
//   - the bulk channel (chanBulk) carries the chunks of streamed bodies
//     (stream.go), whose heads keep their order among the frames; a
//     plain frame of BulkMin bytes or more travels as a stream that the
//     reader assembles. One QUIC connection moves about 450 MB/s on
//     loopback, CPU-bound; TLS over TCP about 1,660 MB/s (see
//     docs/ARCHITECTURE.md). Because bodies have a channel of their own,
//     a frame never waits behind a body's bytes.
//
// Either channel may be missing (no TCP port, a refusal): frames then
// stay on QUIC, and chunks travel between them on the frame stream.
//
// The dialer opens each after the QUIC connection authenticated:
//
//	dialer   → listener  "pxsb" 2, the 32-byte id of the QUIC connection, the channel's kind byte
//	listener → dialer    32-byte random nonce
//	dialer   → listener  HMAC-SHA256(key, "pxsh-bulk-v1" || nonce || TCP exporter || QUIC exporter || kind)
//	listener → dialer    status byte (0 ok, 1 refused)
//
// The TLS session pins the same certificate as QUIC; the id is a hash of
// the QUIC connection's exporter, and the proof binds both sessions, so a
// channel joins only the connection whose key proof it repeats, once per
// kind.
const (
	bulkHello   = "pxsb\x02"
	bulkLabel   = "pxsh-bulk-v1"
	bulkIDLabel = "pxsh bulk id"
	bulkALPN    = "pxsh-bulk/1"
)

// The kinds of side channel.
const (
	chanBulk   byte = 0 // chunks of streamed bodies
	chanFrames byte = 1 // every frame, after the switch
)

// BulkMin is the smallest frame sent as a stream on the bulk channel when
// there is one.
const BulkMin = 256 << 10

// inlineChanMax is the largest frame a caller writes to the frame channel
// itself (when the socket's send queue is empty, such a write fits in the
// socket's buffer at once).
const inlineChanMax = 8 << 10

// bulkReadBuf is the bulk reader's buffer size.
const bulkReadBuf = 256 << 10

// bulkIDOf is the id a bulk channel names its QUIC connection by.
func bulkIDOf(quicExporter []byte) []byte {
	h := sha256.New()
	h.Write([]byte(bulkIDLabel))
	h.Write(quicExporter)
	return h.Sum(nil)
}

func bulkMAC(key, nonce, tcpExp, quicExp []byte, kind byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(bulkLabel))
	m.Write(nonce)
	m.Write(tcpExp)
	m.Write(quicExp)
	m.Write([]byte{kind})
	return m.Sum(nil)
}

// bulk is one of a connection's side channels: TLS over TCP, or for a
// peer on the same host a Unix socket (bulk_local.go).
type bulk struct {
	nc    net.Conn
	br    *bufio.Reader
	local bool            // the Unix socket
	sc    syscall.RawConn // the socket, for sendIdle (nil: unknown)
	// For the local bulk channel (memfd.go): the descriptors received,
	// and a slot per memfd body held.
	fds    *fdReader
	slots  chan struct{}
	window *fdWindow // the memfds sent, not acknowledged yet
	pool   *fdPool   // the memfds kept for the next bodies (fdpool.go)
}

func newBulk(nc net.Conn) *bulk {
	_, local := nc.(*net.UnixConn)
	b := &bulk{nc: nc, br: bufio.NewReaderSize(nc, bulkReadBuf), local: local}
	if p, ok := nc.(interface{ writeRaw() syscall.RawConn }); ok { // frame pipes
		b.local, b.sc = true, p.writeRaw()
		return b
	}
	raw := nc
	if tc, ok := nc.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if s, ok := raw.(syscall.Conn); ok {
		b.sc, _ = s.SyscallConn()
	}
	return b
}

// attach makes nc the connection's side channel of the given kind. It
// closes nc when the connection closes; the connection closes when a
// channel fails. It reports false when the connection has that kind of
// channel already.
func (c *conn) attach(kind byte, nc net.Conn) bool {
	b := newBulk(nc)
	if kind == chanBulk && b.local && memfdSupported {
		if b.fds = newFDReader(nc); b.fds != nil {
			b.br = bufio.NewReaderSize(b.fds, bulkReadBuf)
			b.slots = make(chan struct{}, maxFDBodies)
			b.window = newFDWindow()
			b.pool = &fdPool{}
		}
	}
	c.wmu.Lock()
	switch {
	case kind == chanBulk && c.bulk == nil:
		c.bulk = b
	case kind == chanFrames && c.frames == nil:
		c.frames = b
	default:
		c.wmu.Unlock()
		return false
	}
	c.wmu.Unlock()
	if kind == chanBulk {
		go c.readChunks(b)
		go c.bulkLoop(b)
	} else {
		c.framesReady <- b // buffered: attached once
	}
	context.AfterFunc(c.qc.Context(), func() {
		nc.Close()
		if b.fds != nil {
			b.fds.close()
			b.pool.close()
		}
	})
	if c.attached != nil {
		c.attached(kind)
	}
	return true
}

// BulkActive reports whether the connection has its bulk channel.
func (c *Conn) BulkActive() bool {
	c.impl.wmu.Lock()
	defer c.impl.wmu.Unlock()
	return c.impl.bulk != nil
}

// dialBulk opens the side channel of c of the given kind to addr's TCP
// port and attaches it; a failure leaves c without it (and is returned
// for the log).
func dialBulk(ctx context.Context, c *conn, kind byte, addr string, tlsConf *tls.Config, key []byte) error {
	quicExp, err := exporterOf(c.qc)
	if err != nil {
		return err
	}
	conf := tlsConf.Clone()
	conf.NextProtos = []string{bulkALPN}
	if conf.ServerName == "" { // as tls.Dialer does
		if host, _, err := net.SplitHostPort(addr); err == nil {
			conf.ServerName = host
		}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	tc := tls.Client(rawNet(nc), conf)
	fail := func(err error) error { tc.Close(); return err }
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		tc.SetDeadline(dl)
	}
	if _, err := tc.Write(append(append([]byte(bulkHello), bulkIDOf(quicExp)...), kind)); err != nil {
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
	if _, err := tc.Write(bulkMAC(key, nonce, tcpExp, quicExp, kind)); err != nil {
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
	c.attach(kind, tc)
	return nil
}

// serveBulk authenticates an incoming bulk channel and attaches it to the
// connection it names.
func (l *listener) serveBulk(nc net.Conn) error {
	tc := tls.Server(rawNet(nc), l.bulkTLS)
	deadline := time.Now().Add(l.cfg.HandshakeTimeout)
	tc.SetDeadline(deadline)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("bulk handshake: %w", err)
	}
	hello := make([]byte, len(bulkHello)+sha256.Size+1)
	if _, err := io.ReadFull(tc, hello); err != nil {
		return fmt.Errorf("read bulk hello: %w", err)
	}
	id, kind, err := parseHello(hello, bulkHello)
	if err != nil {
		return err
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
	c := l.bulkConn(id, deadline)
	if c == nil || !hmac.Equal(got, bulkMAC(l.cfg.Key, nonce, tcpExp, c.quicExp, kind)) {
		tc.Write([]byte{statusRefuse})
		return errWrongKey
	}
	return acceptChannel(c, kind, tc, time.Time{})
}

// parseHello checks a side channel's hello and returns the id of the
// connection it names and its kind.
func parseHello(hello []byte, want string) (id string, kind byte, err error) {
	if string(hello[:len(want)]) != want {
		return "", 0, errors.New("read bulk hello: bad hello")
	}
	kind = hello[len(hello)-1]
	if kind != chanBulk && kind != chanFrames {
		return "", 0, fmt.Errorf("read bulk hello: unknown channel kind %d", kind)
	}
	return string(hello[len(want) : len(hello)-1]), kind, nil
}

// acceptChannel attaches an authenticated side channel to c and tells the
// dialer; a second channel of one kind is refused. A local frame channel
// gets its pipes first, by deadline.
func acceptChannel(c *conn, kind byte, nc net.Conn, deadline time.Time) error {
	nc.SetDeadline(time.Time{})
	if c.hasChannel(kind) {
		nc.Write([]byte{statusRefuse})
		return errors.New("a second side channel of one kind")
	}
	// The status goes first: once attached, our writer may send frames on
	// the channel, and a frame ahead of the status byte would shift the
	// dialer's reading by one byte. What the dialer sends meanwhile waits
	// in the socket for our reader.
	if _, err := nc.Write([]byte{statusOK}); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if kind == chanFrames {
		pc, err := withPipes(nc, true, deadline)
		if err != nil {
			return err
		}
		nc = pc
	}
	if !c.attach(kind, nc) {
		return errors.New("a second side channel of one kind")
	}
	return nil
}

// hasChannel reports whether c has its side channel of the given kind.
func (c *conn) hasChannel(kind byte) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if kind == chanBulk {
		return c.bulk != nil
	}
	return c.frames != nil
}
