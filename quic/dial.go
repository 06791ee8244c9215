package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// Dial connects to a listener at addr (host:port), checks that its
// certificate has the given fingerprint ("sha256:<hex>", as FingerprintOf
// returns) and proves cfg.Key. TLS and authentication together are
// bounded by cfg.HandshakeTimeout and by ctx.
//
// A certificate that is not the pinned one fails with an error wrapping
// ErrFingerprint; a listener that refuses the key, with one wrapping
// ErrAuth.
func Dial(ctx context.Context, addr, fingerprint string, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	want := strings.ToLower(fingerprint)
	if !strings.HasPrefix(want, "sha256:") {
		return nil, fmt.Errorf("dial %s: fingerprint %q does not start with sha256:", addr, fingerprint)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()

	var (
		mu  sync.Mutex
		got string // fingerprint of a certificate that did not match
	)
	tlsConf := &tls.Config{
		// The chain is not verified: the pinned fingerprint is the trust.
		InsecureSkipVerify: true,
		NextProtos:         []string{ALPN},
		MinVersion:         tls.VersionTLS13,
		// VerifyConnection, unlike VerifyPeerCertificate, also runs on
		// resumed connections.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			fp := FingerprintOf(cs.PeerCertificates[0].Raw)
			if fp != want {
				mu.Lock()
				got = fp
				mu.Unlock()
				return fmt.Errorf("%w: expected %s, got %s", ErrFingerprint, want, fp)
			}
			return nil
		},
	}
	qc, st, err := dialRetry(ctx, addr, tlsConf, cfg.quicConfig(-1), cfg.Key)
	if err != nil {
		mu.Lock()
		defer mu.Unlock()
		if got != "" {
			return nil, fmt.Errorf("dial %s: %w: expected %s, got %s", addr, ErrFingerprint, want, got)
		}
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := newConn(qc, st, &cfg)
	if !cfg.NoBulk {
		go func() {
			ctx, cancel := context.WithTimeout(qc.Context(), cfg.HandshakeTimeout)
			defer cancel()
			kinds := []byte{chanFrames, chanBulk}
			if cfg.FramesOnQUIC {
				kinds = kinds[1:]
			}
			for _, kind := range kinds {
				if err := dialChannel(ctx, c.impl, kind, addr, want, tlsConf, &cfg); err != nil && cfg.Logger != nil {
					cfg.Logger.Info("quic: no side channel: its traffic stays on QUIC", "addr", addr, "kind", kind, "err", err)
				}
			}
		}()
	}
	return c, nil
}

// localOff is set by PXSH_LOCAL_CHANNELS=0: this process dials its side
// channels over TLS and TCP even to a listener on this host, as to
// another host (for measurements of that path on one machine).
var localOff = os.Getenv("PXSH_LOCAL_CHANNELS") == "0"

// dialChannel opens a side channel of c: the local one when the listener
// is on this host, else TLS over TCP.
func dialChannel(ctx context.Context, c *conn, kind byte, addr, fingerprint string, tlsConf *tls.Config, cfg *Config) error {
	if !cfg.NoLocalBulk && !localOff {
		err := dialBulkLocal(ctx, c, kind, addr, fingerprint, cfg.Key)
		if err == nil {
			return nil
		}
		if !localAbsent(err) && cfg.Logger != nil {
			cfg.Logger.Info("quic: no local side channel: trying TCP", "addr", addr, "err", err)
		}
	}
	return dialBulk(ctx, c, kind, addr, tlsConf, cfg.Key)
}

// dialRetry dials and authenticates until the listener takes the
// connection or ctx ends: a listener whose accept queue is full (a
// handshake flood) refuses with CONNECTION_REFUSED, during the handshake
// or right after it, which is worth trying again shortly.
func dialRetry(ctx context.Context, addr string, tlsConf *tls.Config, qcfg *quicgo.Config, key []byte) (*quicgo.Conn, *quicgo.Stream, error) {
	wait := 10 * time.Millisecond
	for {
		qc, err := quicgo.DialAddr(ctx, addr, tlsConf, qcfg)
		if err == nil {
			var st *quicgo.Stream
			if st, err = authenticate(ctx, qc, key); err == nil {
				return qc, st, nil
			}
		}
		var te *quicgo.TransportError
		if !errors.As(err, &te) || te.ErrorCode != quicgo.ConnectionRefused || !te.Remote {
			return nil, nil, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// authenticate proves key on qc, within ctx; qc is closed when it fails.
func authenticate(ctx context.Context, qc *quicgo.Conn, key []byte) (*quicgo.Stream, error) {
	stop := context.AfterFunc(ctx, func() { _ = qc.CloseWithError(codeAuth, "dial cancelled") })
	st, err := clientAuth(ctx, qc, key)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = qc.CloseWithError(quicgo.ApplicationErrorCode(codeAuth), "authentication failed")
	}
	return st, err
}
