package hub

import "github.com/pxsh/pxsh/quic"

// burst holds back the frames the hub writes while it handles a burst of
// frames already read from one connection (quic.Conn.FrameReady): the
// results forwarded to a client and the requests sent to engines in
// answer go out together when the burst ends, in one write per
// connection instead of one per frame. Only the reading goroutine uses
// it.
type burst struct {
	held []*quic.Conn
}

// hold holds w's connection until release.
func (b *burst) hold(w frameWriter) {
	if b == nil {
		return
	}
	var c *quic.Conn
	switch w := w.(type) {
	case *quic.Conn:
		c = w
	case *link:
		c = w.c
	default:
		return
	}
	for _, h := range b.held {
		if h == c {
			return
		}
	}
	c.Hold()
	b.held = append(b.held, c)
}

// release sends what was held.
func (b *burst) release() {
	for i, c := range b.held {
		c.Release()
		b.held[i] = nil
	}
	b.held = b.held[:0]
}

// flushHeld is flush with each connection held in b (nil: none).
func (o outbox) flushHeld(b *burst) {
	for _, m := range o {
		if m.refuse == nil {
			b.hold(m.conn)
		}
	}
	o.flush()
}
