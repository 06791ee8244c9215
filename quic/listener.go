package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// Defaults of Config's zero fields, and the listener's pre-authentication
// limits.
const (
	defaultIdleTimeout      = 30 * time.Second
	defaultHandshakeTimeout = 10 * time.Second
	// DefaultListenHandshakeTimeout bounds, at the listener, the TLS
	// handshake (as an idle timeout) and then the proof of the key: an
	// unauthenticated peer holds a handshake slot this long at most.
	DefaultListenHandshakeTimeout = 3 * time.Second
	// MaxPendingHandshakes bounds the connections authenticating at once;
	// more are refused until some finish.
	MaxPendingHandshakes = 1024
	// MaxPendingPerHost bounds the connections one source address may
	// have authenticating at once, so that no single peer can use up
	// MaxPendingHandshakes.
	MaxPendingPerHost = 32
)

// withDefaults checks cfg and fills its zero fields.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Key) == 0 {
		return cfg, errors.New("config has no cluster key")
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = defaultHandshakeTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = cfg.IdleTimeout / 3
	}
	return cfg, nil
}

// quicConfig is the quic-go configuration of either end. incoming is how
// many bidirectional streams the peer may open.
func (cfg *Config) quicConfig(incoming int64) *quicgo.Config {
	return &quicgo.Config{
		HandshakeIdleTimeout:  cfg.HandshakeTimeout,
		MaxIdleTimeout:        cfg.IdleTimeout,
		KeepAlivePeriod:       cfg.KeepAlive,
		MaxIncomingStreams:    incoming,
		MaxIncomingUniStreams: -1,
	}
}

// listener accepts QUIC connections and authenticates each in its own
// goroutine.
type listener struct {
	ql    *quicgo.Listener
	cfg   Config
	ready chan *Conn
	// pending holds a token per connection authenticating.
	pending chan struct{}
	// perHost counts the connections authenticating by source IP;
	// guarded by mu.
	perHost map[string]int

	closed    chan struct{} // closed by close
	closeOnce sync.Once
	loopDone  chan struct{} // closed when acceptLoop returns
	loopErr   error         // why acceptLoop returned; read after loopDone
	wg        sync.WaitGroup

	mu    sync.Mutex
	conns map[*quicgo.Conn]struct{} // every connection not yet closed

	// The bulk channels' TCP listener (nil when off) and the
	// authenticated connections that may still attach one, by bulk id.
	tl       net.Listener
	ul       net.Listener // the local bulk channels' Unix socket (bulk_local.go)
	bulkTLS  *tls.Config
	bulkWait map[string]*conn
	// bulkAdded is closed (and replaced) when a connection joins bulkWait.
	bulkAdded chan struct{}
}

// Listen binds a UDP address (such as "127.0.0.1:0") and accepts pxsh
// connections that present id's certificate and authenticate with
// cfg.Key.
func Listen(addr string, id *Identity, cfg Config) (*Listener, error) {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultListenHandshakeTimeout
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if id == nil || len(id.Cert.Certificate) == 0 {
		return nil, fmt.Errorf("listen %s: no identity", addr)
	}
	tlsConf := &tls.Config{
		Certificates: []tls.Certificate{id.Cert},
		NextProtos:   []string{ALPN},
		MinVersion:   tls.VersionTLS13,
	}
	ql, err := quicgo.ListenAddr(addr, tlsConf, cfg.quicConfig(1))
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	l := &listener{
		ql:       ql,
		cfg:      cfg,
		ready:    make(chan *Conn),
		pending:  make(chan struct{}, MaxPendingHandshakes),
		perHost:  make(map[string]int),
		closed:   make(chan struct{}),
		loopDone: make(chan struct{}),
		conns:    make(map[*quicgo.Conn]struct{}),
	}
	if !cfg.NoBulk {
		l.bulkWait, l.bulkAdded = map[string]*conn{}, make(chan struct{})
		l.listenBulk(id)
		if !cfg.NoLocalBulk {
			l.listenLocal(id.Fingerprint)
		}
	}
	go l.acceptLoop()
	return &Listener{impl: l}, nil
}

func (l *listener) addr() net.Addr { return l.ql.Addr() }

func (l *listener) acceptLoop() {
	defer close(l.loopDone)
	for {
		qc, err := l.ql.Accept(context.Background())
		if err != nil {
			l.loopErr = err
			return
		}
		if !l.track(qc) {
			_ = qc.CloseWithError(codeOK, "listener closed")
			continue
		}
		host := hostOf(qc.RemoteAddr())
		if why := l.reserve(host); why != "" {
			if l.cfg.Logger != nil {
				l.cfg.Logger.Warn("quic: refused connection", "remote", qc.RemoteAddr().String(), "err", why)
			}
			_ = qc.CloseWithError(codeBusy, why)
			continue
		}
		l.wg.Add(1)
		go l.handshake(qc, host)
	}
}

// reserve takes a handshake slot for a connection from host; it returns
// why not when the host or the listener has too many pending.
func (l *listener) reserve(host string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perHost[host] >= MaxPendingPerHost {
		return "too many pending handshakes from " + host
	}
	select {
	case l.pending <- struct{}{}:
	default:
		return "too many pending handshakes"
	}
	l.perHost[host]++
	return ""
}

// release gives back the slot reserve took.
func (l *listener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	<-l.pending
	if l.perHost[host]--; l.perHost[host] <= 0 {
		delete(l.perHost, host)
	}
}

// hostOf is the IP of a peer address (the address itself if it has no
// port).
func hostOf(a net.Addr) string {
	if ua, ok := a.(*net.UDPAddr); ok {
		return ua.IP.String()
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// track records qc until it closes; it reports false once the listener is
// closed.
func (l *listener) track(qc *quicgo.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.closed:
		return false
	default:
	}
	l.conns[qc] = struct{}{}
	context.AfterFunc(qc.Context(), func() {
		l.mu.Lock()
		delete(l.conns, qc)
		l.mu.Unlock()
	})
	return true
}

// handshake authenticates qc and hands it to Accept.
func (l *listener) handshake(qc *quicgo.Conn, host string) {
	defer l.wg.Done()
	released := false
	release := func() {
		if !released {
			released = true
			l.release(host)
		}
	}
	defer release()
	// The handshake gives up at its deadline or when the listener closes
	// (which also closes qc).
	ctx, cancel := context.WithTimeout(qc.Context(), l.cfg.HandshakeTimeout)
	defer cancel()
	st, err := serverAuth(ctx, qc, l.cfg.Key)
	if err != nil {
		code, reason := uint64(codeAuth), refusedReason
		if ae, ok := errors.AsType[*authError](err); ok {
			code = ae.code
			if ae.err != errWrongKey {
				reason = ErrAuth.Error() + ": " + ae.err.Error()
			}
		}
		if l.cfg.Logger != nil {
			l.cfg.Logger.Warn("quic: refused connection", "remote", qc.RemoteAddr().String(), "err", err)
		}
		_ = qc.CloseWithError(quicgo.ApplicationErrorCode(code), truncate(reason, 200))
		return
	}
	release() // authenticated: the slot is free while Accept takes its time
	c := newConn(qc, st, &l.cfg)
	l.awaitBulk(c.impl)
	select {
	case l.ready <- c:
	case <-l.closed:
		_ = qc.CloseWithError(codeOK, "listener closed")
	case <-qc.Context().Done():
	}
}

func (l *listener) accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("accept: %w", ctx.Err())
	case <-l.closed:
		return nil, fmt.Errorf("accept: %w", net.ErrClosed)
	case <-l.loopDone:
		return nil, fmt.Errorf("accept: %w", l.loopErr)
	}
}

func (l *listener) close() error {
	var err error
	l.closeOnce.Do(func() {
		l.mu.Lock()
		close(l.closed)
		conns := make([]*quicgo.Conn, 0, len(l.conns))
		for qc := range l.conns {
			conns = append(conns, qc)
		}
		l.mu.Unlock()
		for _, qc := range conns {
			_ = qc.CloseWithError(codeOK, "listener closed")
		}
		err = l.ql.Close()
		if l.tl != nil {
			l.tl.Close()
		}
		if l.ul != nil {
			l.ul.Close()
		}
		<-l.loopDone
		l.wg.Wait()
	})
	return err
}

// listenBulk opens the TCP port of the bulk channels, the UDP port's
// number on the same address. When it is taken, connections stay on QUIC
// alone (and the logger says so).
func (l *listener) listenBulk(id *Identity) {
	tl, err := net.Listen("tcp", l.ql.Addr().String())
	if err != nil {
		if l.cfg.Logger != nil {
			l.cfg.Logger.Warn("quic: no bulk channel: large frames stay on QUIC", "err", err)
		}
		return
	}
	l.tl = tl
	l.bulkTLS = &tls.Config{Certificates: []tls.Certificate{id.Cert}, NextProtos: []string{bulkALPN}, MinVersion: tls.VersionTLS13}
	l.wg.Add(1)
	go l.acceptBulk()
}

// acceptBulk accepts bulk channels, under the same pre-authentication
// limits as QUIC connections.
func (l *listener) acceptBulk() {
	defer l.wg.Done()
	for {
		nc, err := l.tl.Accept()
		if err != nil {
			return
		}
		host := hostOf(nc.RemoteAddr())
		if why := l.reserve(host); why != "" {
			nc.Close()
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.release(host)
			if err := l.serveBulk(nc); err != nil {
				nc.Close()
				if l.cfg.Logger != nil {
					l.cfg.Logger.Warn("quic: refused bulk channel", "remote", nc.RemoteAddr().String(), "err", err)
				}
			}
		}()
	}
}

// awaitBulk lets an authenticated connection attach a bulk channel.
func (l *listener) awaitBulk(c *conn) {
	if l.tl == nil && l.ul == nil {
		c.noBulk = true
		return
	}
	exp, err := exporterOf(c.qc)
	if err != nil {
		return
	}
	c.quicExp = exp
	id := string(bulkIDOf(exp))
	l.mu.Lock()
	l.bulkWait[id] = c
	close(l.bulkAdded)
	l.bulkAdded = make(chan struct{})
	l.mu.Unlock()
	context.AfterFunc(c.qc.Context(), func() {
		l.mu.Lock()
		delete(l.bulkWait, id)
		l.mu.Unlock()
	})
}

// bulkConn returns the connection a bulk channel names, waiting for it
// until deadline: the dialer may send its proof before this side has
// registered the connection it just authenticated (it writes the status
// first), which a Unix socket, with no handshake of its own, makes likely.
func (l *listener) bulkConn(id string, deadline time.Time) *conn {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		l.mu.Lock()
		c, added := l.bulkWait[id], l.bulkAdded
		l.mu.Unlock()
		if c != nil {
			return c
		}
		select {
		case <-added:
		case <-t.C:
			return nil
		case <-l.closed:
			return nil
		}
	}
}

// truncate keeps at most n bytes of s.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
