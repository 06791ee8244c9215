package quic

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// The authentication handshake runs on the dialer's stream before any
// frame:
//
//	dialer   → listener  hello: "pxsh" and version byte 1 (makes the stream visible)
//	listener → dialer    32-byte random nonce
//	dialer   → listener  HMAC-SHA256(key, "pxsh-auth-v1" || nonce || exporter)
//	listener → dialer    status byte (0 ok, 1 refused), reason length byte, reason
//
// exporter is 32 bytes of TLS keying material (label "pxsh auth"), so a
// proof is bound to this very TLS session and cannot be relayed. The key
// never crosses the wire.
const (
	authHello    = "pxsh\x01"
	authLabel    = "pxsh-auth-v1"
	exportLabel  = "pxsh auth"
	nonceLen     = 32
	statusOK     = 0
	statusRefuse = 1
	// refusedReason is what a dialer with the wrong key is told.
	refusedReason = "authentication refused: wrong cluster key"
)

// errWrongKey is the listener's view of a proof that does not match.
var errWrongKey = errors.New("wrong cluster key")

// authError is a failed handshake and the code the listener closes the
// connection with.
type authError struct {
	code uint64
	err  error
}

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

func authMAC(key, nonce, exporter []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(authLabel))
	m.Write(nonce)
	m.Write(exporter)
	return m.Sum(nil)
}

func exporterOf(qc *quicgo.Conn) ([]byte, error) {
	cs := qc.ConnectionState().TLS
	return cs.ExportKeyingMaterial(exportLabel, nil, sha256.Size)
}

// serverAuth accepts the dialer's stream and checks its proof of key.
func serverAuth(ctx context.Context, qc *quicgo.Conn, key []byte) (*quicgo.Stream, error) {
	st, err := qc.AcceptStream(ctx)
	if err != nil {
		return nil, &authError{codeAuth, fmt.Errorf("accept stream: %w", err)}
	}
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	hello := make([]byte, len(authHello))
	if _, err := io.ReadFull(st, hello); err != nil {
		return nil, &authError{codeAuth, fmt.Errorf("read hello: %w", err)}
	}
	if string(hello) != authHello {
		return nil, &authError{codeBadFrame, fmt.Errorf("read hello: got %q, want %q", hello, authHello)}
	}
	nonce := make([]byte, nonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, &authError{codeAuth, fmt.Errorf("nonce: %w", err)}
	}
	if _, err := st.Write(nonce); err != nil {
		return nil, &authError{codeAuth, fmt.Errorf("write nonce: %w", err)}
	}
	exporter, err := exporterOf(qc)
	if err != nil {
		return nil, &authError{codeAuth, fmt.Errorf("export keying material: %w", err)}
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(st, got); err != nil {
		return nil, &authError{codeAuth, fmt.Errorf("read proof: %w", err)}
	}
	if !hmac.Equal(got, authMAC(key, nonce, exporter)) {
		// Best effort: the connection close that follows carries the
		// same reason.
		_, _ = st.Write(statusMsg(statusRefuse, refusedReason))
		return nil, &authError{codeAuth, errWrongKey}
	}
	if _, err := st.Write(statusMsg(statusOK, "")); err != nil {
		return nil, &authError{codeAuth, fmt.Errorf("write status: %w", err)}
	}
	st.SetDeadline(time.Time{})
	return st, nil
}

func statusMsg(status byte, reason string) []byte {
	return append([]byte{status, byte(len(reason))}, reason...)
}

// clientAuth opens the stream and proves the key.
func clientAuth(ctx context.Context, qc *quicgo.Conn, key []byte) (*quicgo.Stream, error) {
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	if _, err := st.Write([]byte(authHello)); err != nil {
		return nil, fmt.Errorf("write hello: %w", err)
	}
	nonce := make([]byte, nonceLen)
	if _, err := io.ReadFull(st, nonce); err != nil {
		return nil, refusal(fmt.Errorf("read nonce: %w", err))
	}
	exporter, err := exporterOf(qc)
	if err != nil {
		return nil, fmt.Errorf("export keying material: %w", err)
	}
	if _, err := st.Write(authMAC(key, nonce, exporter)); err != nil {
		return nil, refusal(fmt.Errorf("write proof: %w", err))
	}
	var head [2]byte
	if _, err := io.ReadFull(st, head[:]); err != nil {
		return nil, refusal(fmt.Errorf("read status: %w", err))
	}
	reason := make([]byte, head[1])
	if _, err := io.ReadFull(st, reason); err != nil {
		return nil, refusal(fmt.Errorf("read status: %w", err))
	}
	switch head[0] {
	case statusOK:
	case statusRefuse:
		return nil, fmt.Errorf("%w: wrong cluster key", ErrAuth)
	default:
		return nil, fmt.Errorf("read status: unknown status %d (%q)", head[0], reason)
	}
	st.SetDeadline(time.Time{})
	return st, nil
}

// refusal turns the listener closing the connection with the
// authentication code into ErrAuth, and with the busy code into ErrBusy.
func refusal(err error) error {
	if appErr, ok := errors.AsType[*quicgo.ApplicationError](err); ok && appErr.Remote && appErr.ErrorCode == codeBusy {
		return fmt.Errorf("%w: %s", ErrBusy, appErr.ErrorMessage)
	}
	if appErr, ok := errors.AsType[*quicgo.ApplicationError](err); ok && appErr.Remote && appErr.ErrorCode == codeAuth {
		why := strings.TrimPrefix(appErr.ErrorMessage, ErrAuth.Error()+": ")
		if why == "" {
			why = "no reason given"
		}
		return fmt.Errorf("%w: %s", ErrAuth, why)
	}
	return err
}
