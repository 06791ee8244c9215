//go:build linux

package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
	"github.com/pxsh/pxsh/starlarklib"
)

// recLink is a link that keeps the bodies of the streamed frames written
// to it, read as they are written (as a local send reads a memfd).
type recLink struct {
	local bool
	mu    sync.Mutex
	got   [][]byte
	memfd []bool
}

var errRecLink = errors.New("recLink: no frames to read")

func (l *recLink) ReadFrame() ([]byte, error)              { return nil, errRecLink }
func (l *recLink) ReadStream() ([]byte, *quic.Body, error) { return nil, nil, errRecLink }
func (l *recLink) WriteFrame(...[]byte) error              { return nil }
func (l *recLink) WriteUrgent(...[]byte) error             { return nil }
func (l *recLink) PacketsReceived() uint64                 { return 0 }
func (l *recLink) Close(uint64, string) error              { return nil }
func (l *recLink) LocalMemfds() bool                       { return l.local }
func (l *recLink) WriteStream(head []byte, body *quic.Body) error {
	b, err := body.Bytes()
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.got, l.memfd = append(l.got, b), append(l.memfd, body.Memfd())
	l.mu.Unlock()
	return nil
}

// A pulled array is sent from its memory: to a local controller through
// a sealed memfd kept for resending, else from a copy. What is sent, and
// sent again after a reconnection, is the array as it was when pulled,
// however it changes afterwards.
func TestArrayResultIndependent(t *testing.T) {
	in := newInterp(0)
	mustOK(t, first(exec(t, in, "a = np.arange(400000.0)"))) // 3.2 MB
	for _, local := range []bool{true, false} {
		e, l, want := pullArray(t, in, local)
		mustOK(t, first(exec(t, in, "a[0] = -1.0; a[399999] = -1.0")))
		again := &recLink{local: local}
		e.setConn(again, true)
		sent := append(l.got, again.got...)
		if len(sent) != 2 {
			t.Fatalf("local %v: %d bodies sent, want 2 (the result and its resend)", local, len(sent))
		}
		for i, b := range sent {
			if !bytes.Equal(b, want) {
				t.Errorf("local %v, send %d: the body is not the array as pulled", local, i)
			}
		}
		if memfd := append(l.memfd, again.memfd...); memfd[0] != local || memfd[1] != local {
			t.Errorf("local %v: sent as memfds %v", local, memfd)
		}
		if sealed := e.recent.frames[0].sealed != nil; sealed != local {
			t.Errorf("local %v: kept as a sealed memfd: %v", local, sealed)
		}
		for _, f := range e.recent.frames {
			f.release()
		}
		mustOK(t, first(exec(t, in, "a[0] = 0.0; a[399999] = 399999.0")))
	}
}

func first[A, B any](a A, _ B) A { return a }

// pullArray pulls the array a of in through an engine writing to a
// recLink (local: memfds to the controller), and returns them with the
// encoding of a as it was pulled; it fails unless the array was shared.
func pullArray(t *testing.T, in *Interp, local bool) (*Engine, *recLink, []byte) {
	t.Helper()
	_, v := exec(t, in, "a")
	want, err := starlarklib.Encode(v, in.ns.EncodeOptions())
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{log: slog.New(slog.DiscardHandler), interp: in,
		cfg: Config{MaxFrame: quic.DefaultMaxFrame, MaxValue: quic.DefaultMaxValue}}
	l := &recLink{local: local}
	e.conn = l
	req := &protocol.Request{MsgID: "p", Kind: protocol.KindPull}
	res, parts, shared := in.RunShared(context.Background(), req, cborBody(t, "a"), nil)
	if !shared {
		t.Fatalf("local %v: the array was not shared", local)
	}
	e.replyValue(req, res, parts, shared)
	return e, l, want
}

// A sealed result over the resend budget is dropped from the recent
// results at once, yet sent whole.
func TestLargeArrayResultSent(t *testing.T) {
	in := newInterp(0)
	mustOK(t, first(exec(t, in, "a = np.arange(2200000.0)"))) // 17.6 MB
	e, l, want := pullArray(t, in, true)
	if len(l.got) != 1 || !bytes.Equal(l.got[0], want) || !l.memfd[0] {
		t.Fatalf("sent %d bodies (memfd %v), want the array once as a memfd", len(l.got), l.memfd)
	}
	if len(e.recent.frames) != 0 {
		t.Errorf("%d results kept, want none over the budget", len(e.recent.frames))
	}
}
