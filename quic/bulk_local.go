package quic

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// The local side channels: for a peer on the same host the side channels
// (bulk.go) are Unix stream sockets without TLS, so a frame costs no encryption,
// no decryption and no 16 KiB records on either side (crypto on loopback
// is paid twice per hop). The listener binds an abstract socket whose
// name both sides derive from the certificate's fingerprint and the port
// number, so nothing new is announced; the dialer tries it first and
// falls back to TLS over TCP when it is not there or refuses.
//
// Abstract sockets have no file permissions, so each side checks the
// other's credentials (SO_PEERCRED): the peer must run as the same user.
// Such a process can read the profile's key anyway, so the socket gives
// it nothing new; any other user is refused before a byte is read. The
// dialer then proves the key, bound to its QUIC session as on TCP:
//
//	dialer   → listener  "pxsu" 3, the 32-byte id of the QUIC connection, the channel's kind byte
//	listener → dialer    32-byte random nonce
//	dialer   → listener  HMAC-SHA256(key, "pxsh-bulk-local-v1" || nonce || QUIC exporter || kind)
//	listener → dialer    status byte (0 ok, 1 refused)
//	for the frame channel, each way: its frame pipe's write end or none (pipes_linux.go)
//
// The listener's pre-authentication limits apply (all local peers count
// as one host).
const (
	localHello = "pxsu\x03"
	localLabel = "pxsh-bulk-local-v1"
	localName  = "pxsh bulk local"
	localHost  = "local"
)

var (
	// errLocalUnsupported says this platform has no local bulk channel.
	errLocalUnsupported = errors.New("no local bulk channel on this platform")
	// errOtherUser is a local peer that runs as another user.
	errOtherUser = errors.New("peer runs as another user")
)

// localAddr is the abstract socket name of the listener whose certificate
// has fingerprint and whose UDP port is port.
func localAddr(fingerprint, port string) string {
	h := sha256.Sum256([]byte(localName + "\x00" + fingerprint + "\x00" + port))
	return "@pxsh-bulk-" + hex.EncodeToString(h[:16])
}

func localMAC(key, nonce, quicExp []byte, kind byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(localLabel))
	m.Write(nonce)
	m.Write(quicExp)
	m.Write([]byte{kind})
	return m.Sum(nil)
}

// listenLocal binds the listener's local bulk socket; without it local
// peers use TCP (and the logger says why).
func (l *listener) listenLocal(fingerprint string) {
	_, port, err := net.SplitHostPort(l.ql.Addr().String())
	if err == nil {
		l.ul, err = listenUnix(localAddr(fingerprint, port))
	}
	if err != nil {
		if l.cfg.Logger != nil {
			l.cfg.Logger.Info("quic: no local bulk channel: local peers use TCP", "err", err)
		}
		return
	}
	l.wg.Add(1)
	go l.acceptLocal()
}

// acceptLocal accepts local bulk channels under the pre-authentication
// limits.
func (l *listener) acceptLocal() {
	defer l.wg.Done()
	for {
		nc, err := l.ul.Accept()
		if err != nil {
			return
		}
		if why := l.reserve(localHost); why != "" {
			nc.Close()
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.release(localHost)
			if err := l.serveLocal(nc); err != nil {
				nc.Close()
				if l.cfg.Logger != nil {
					// Another user's engines are a setup, not an attack:
					// they use TCP.
					level := slog.LevelWarn
					if errors.Is(err, errOtherUser) {
						level = slog.LevelInfo
					}
					l.cfg.Logger.Log(context.Background(), level, "quic: refused local bulk channel", "err", err)
				}
			}
		}()
	}
}

// serveLocal authenticates an incoming local bulk channel and attaches it
// to the connection it names.
func (l *listener) serveLocal(nc net.Conn) error {
	if err := samePeerUser(nc); err != nil {
		return err
	}
	deadline := time.Now().Add(l.cfg.HandshakeTimeout)
	nc.SetDeadline(deadline)
	hello := make([]byte, len(localHello)+sha256.Size+1)
	if _, err := io.ReadFull(nc, hello); err != nil {
		return fmt.Errorf("read local bulk hello: %w", err)
	}
	id, kind, err := parseHello(hello, localHello)
	if err != nil {
		return err
	}
	nonce := make([]byte, nonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	if _, err := nc.Write(nonce); err != nil {
		return fmt.Errorf("write nonce: %w", err)
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(nc, got); err != nil {
		return fmt.Errorf("read proof: %w", err)
	}
	c := l.bulkConn(id, deadline)
	if c == nil || !hmac.Equal(got, localMAC(l.cfg.Key, nonce, c.quicExp, kind)) {
		nc.Write([]byte{statusRefuse})
		return errWrongKey
	}
	return acceptChannel(c, kind, nc, deadline)
}

// dialBulkLocal opens the local side channel of c of the given kind,
// whose listener is at addr with the given certificate fingerprint, and
// attaches it.
func dialBulkLocal(ctx context.Context, c *conn, kind byte, addr, fingerprint string, key []byte) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	quicExp, err := exporterOf(c.qc)
	if err != nil {
		return err
	}
	nc, err := dialUnix(ctx, localAddr(fingerprint, port))
	if err != nil {
		return err
	}
	if err := handshakeLocal(ctx, nc, quicExp, key, kind); err != nil {
		nc.Close()
		return err
	}
	if kind == chanFrames {
		dl, _ := ctx.Deadline()
		pc, err := withPipes(nc, false, dl)
		if err != nil {
			nc.Close()
			return err
		}
		nc = pc
	}
	c.attach(kind, nc)
	return nil
}

// handshakeLocal checks the listener's user and proves the key on nc.
func handshakeLocal(ctx context.Context, nc net.Conn, quicExp, key []byte, kind byte) error {
	if err := samePeerUser(nc); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	if _, err := nc.Write(append(append([]byte(localHello), bulkIDOf(quicExp)...), kind)); err != nil {
		return err
	}
	nonce := make([]byte, nonceLen)
	if _, err := io.ReadFull(nc, nonce); err != nil {
		return fmt.Errorf("read nonce: %w", err)
	}
	if _, err := nc.Write(localMAC(key, nonce, quicExp, kind)); err != nil {
		return err
	}
	var status [1]byte
	if _, err := io.ReadFull(nc, status[:]); err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	if status[0] != statusOK {
		return fmt.Errorf("%w: local bulk channel refused", ErrAuth)
	}
	nc.SetDeadline(time.Time{})
	return nil
}

// localAbsent reports whether a local dial failed only because no
// listener of that name is on this host (the usual case for a remote
// peer), which is not worth a log line.
func localAbsent(err error) bool {
	return errors.Is(err, errLocalUnsupported) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}
