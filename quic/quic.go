// Package quic is pxsh's transport: QUIC listeners and dialers over
// quic-go with TLS 1.3, a self-signed controller identity pinned by its
// SHA-256 fingerprint, a challenge-response proof of the cluster key on the
// first stream, and length-prefixed frames on one long-lived stream per
// connection.
//
// It knows nothing about what frames mean and imports no other pxsh package.
//
// A frame is a 4-byte big-endian length followed by that many payload
// bytes. Connections are closed with application error codes that match
// the protocol package's wire codes: 1 malformed handshake, 2 frame over
// the limit, 4 authentication failed.
//
// quic-go reads a few environment variables of its own
// (QUIC_GO_DISABLE_GSO, QUIC_GO_DISABLE_ECN,
// QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING) and, when the kernel refuses
// the 7 MiB UDP buffers it asks for, logs one warning through the standard
// log package. This package changes neither: programs that care raise
// net.core.rmem_max/wmem_max or route the log package's output. As root
// the warning does not appear (SO_RCVBUFFORCE succeeds).
package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// ALPN is the TLS application protocol of pxsh connections.
const ALPN = "pxsh/1"

// DefaultMaxFrame is the default frame-size limit: 256 MiB.
const DefaultMaxFrame = 256 << 20

// Application error codes this package closes connections with. They are
// the same numbers as the protocol package's wire codes, which this package
// does not import.
const (
	codeOK       = 0 // normal close
	codeBadFrame = 1 // malformed handshake or frame
	codeTooLarge = 2 // frame over the size limit
	codeAuth     = 4 // authentication failed
	// codeSlowConsumer: the peer did not read and its queue passed the
	// bound set by SetSlowConsumer.
	codeSlowConsumer = 9
	// codeBusy: the listener has too many handshakes pending; try again.
	codeBusy = 10
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrAuth means the listener refused the dialer's proof of the
	// cluster key.
	ErrAuth = errors.New("authentication refused")
	// ErrBusy means the listener had too many handshakes pending (from
	// this host or in all) and refused the connection before
	// authentication: dial again shortly.
	ErrBusy = errors.New("listener busy")
	// ErrFingerprint means the server's certificate is not the pinned one.
	ErrFingerprint = errors.New("certificate fingerprint mismatch")
	// ErrFrameTooLarge means a frame is over the size limit.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrSlowConsumer means a connection in slow-consumer mode was closed
	// because its peer did not read its frames fast enough.
	ErrSlowConsumer = errors.New("slow consumer")
	// ErrQueueFull means a frame was refused because the peer has not
	// read what is queued for it (see Conn.SetQueueBound).
	ErrQueueFull = errors.New("outgoing queue full")
)

// Config holds what both ends of a connection need. The zero value is not
// usable: Key is required.
type Config struct {
	// Key is the cluster key (32 bytes). Peers prove they hold it; it never
	// crosses the wire.
	Key []byte
	// MaxFrame bounds a frame's size; 0 means DefaultMaxFrame.
	MaxFrame int
	// IdleTimeout closes a connection that hears nothing for this long;
	// 0 means 30 s. Keep-alives are sent at a third of it.
	IdleTimeout time.Duration
	// KeepAlive is how long a connection may hear nothing before it sends
	// a QUIC PING, which the peer's transport acknowledges (see
	// PacketsReceived); 0 means a third of IdleTimeout. QUIC also caps it
	// at half the idle timeout both ends agree on.
	KeepAlive time.Duration
	// HandshakeTimeout bounds TLS plus authentication; 0 means 10 s for
	// Dial and DefaultListenHandshakeTimeout (3 s) for Listen, where it
	// bounds the TLS handshake (as an idle timeout) and then the proof of
	// the key.
	HandshakeTimeout time.Duration
	// Logger receives refused connections; nil means silent.
	Logger *slog.Logger
	// NoBulk keeps every frame on QUIC: the listener opens no TCP port and
	// the dialer no bulk channel (see bulk.go).
	NoBulk bool
	// FramesOnQUIC keeps frames on the QUIC stream instead of moving
	// them to a frame channel (bulk.go); the bulk channel still carries
	// large bodies. Only the dialer's setting counts.
	FramesOnQUIC bool
	// NoLocalBulk keeps the bulk channel on TLS over TCP for a peer on
	// the same host too, instead of the unencrypted Unix socket
	// (bulk_local.go).
	NoLocalBulk bool
	// MaxValue bounds a streamed body (WriteStream, ReadStream); 0 means
	// DefaultMaxValue. MaxFrame still bounds every frame and head.
	MaxValue int64
}

// IsSlowConsumer reports whether err comes from a connection this side
// closed in slow-consumer mode (see Conn.SetSlowConsumer).
func IsSlowConsumer(err error) bool {
	if errors.Is(err, ErrSlowConsumer) {
		return true
	}
	appErr, ok := errors.AsType[*quicgo.ApplicationError](err)
	return ok && !appErr.Remote && appErr.ErrorCode == codeSlowConsumer
}

// Identity is a controller's TLS certificate and its fingerprint.
type Identity struct {
	Cert tls.Certificate
	// Fingerprint is "sha256:" followed by the hex SHA-256 of the leaf
	// certificate's DER bytes.
	Fingerprint string
}

// Listener accepts authenticated connections on one UDP port. It is safe
// for concurrent use.
type Listener struct{ impl *listener }

// Conn is an authenticated connection carrying frames. ReadFrame must be
// called from one goroutine at a time; WriteFrame and Close are safe for
// concurrent use.
type Conn struct{ impl *conn }

// Addr returns the UDP address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.impl.addr() }

// Accept waits for the next connection that completed TLS and proved the
// cluster key. Connections that fail are closed and logged, not returned.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) { return l.impl.accept(ctx) }

// Close stops the listener and closes its connections.
func (l *Listener) Close() error { return l.impl.close() }

// ReadFrame returns the next frame's payload. A frame over the size limit
// closes the connection with code 2 and returns an error wrapping
// ErrFrameTooLarge. A peer that ends the stream between frames gives
// io.EOF; inside a frame, io.ErrUnexpectedEOF.
func (c *Conn) ReadFrame() ([]byte, error) { return c.impl.readFrame() }

// WriteFrame queues one frame whose payload is the concatenation of parts,
// without copying large parts (the caller must not change them
// afterwards). The connection's writer goroutine sends it. A frame over
// the size limit is not sent and gives an error wrapping ErrFrameTooLarge;
// a failed write closes the connection.
//
// When more than the queue bound (DefaultMaxQueued, or SetSlowConsumer's)
// is waiting, WriteFrame waits for the writer; in slow-consumer mode it
// instead closes the connection and returns an error wrapping
// ErrSlowConsumer, and with SetQueueBound it refuses the frame
// (ErrQueueFull). Bytes being written do not count: a frame of any size
// is queued when nothing else waits.
func (c *Conn) WriteFrame(parts ...[]byte) error { return c.impl.writeFrame(parts...) }

// WriteUrgent queues a small frame (a heartbeat's answer) without waiting
// for, or being refused by, the queue bound.
func (c *Conn) WriteUrgent(parts ...[]byte) error { return c.impl.write(true, parts) }

// SetSlowConsumer puts the connection in slow-consumer mode: WriteFrame
// never waits for the peer, and a frame that would leave more than limit
// bytes waiting closes the connection (code 9, "slow consumer").
func (c *Conn) SetSlowConsumer(limit int) { c.impl.setQueueLimit(limit, queueClose) }

// SetQueueBound makes WriteFrame never wait for the peer either, but
// refuse a frame that would leave more than limit bytes waiting, with an
// error wrapping ErrQueueFull; the connection stays open.
func (c *Conn) SetQueueBound(limit int) { c.impl.setQueueLimit(limit, queueRefuse) }

// Flush waits until the frames queued so far are written, the connection
// fails, or d passes.
func (c *Conn) Flush(d time.Duration) error { return c.impl.flushWait(d) }

// PacketsReceived counts the authenticated QUIC packets received from the
// peer (ACKs and keep-alives included): it grows while the peer's
// transport is alive, even when the peer sends no frames.
func (c *Conn) PacketsReceived() uint64 { return c.impl.packetsReceived() }

// Close closes the connection with an application error code and a reason
// the peer sees.
func (c *Conn) Close(code uint64, reason string) error { return c.impl.close(code, reason) }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.impl.remoteAddr() }

// Done is closed when the connection is closed, by either side.
func (c *Conn) Done() <-chan struct{} { return c.impl.done() }

// Err returns why the connection closed, once Done is closed.
func (c *Conn) Err() error { return c.impl.err() }
