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

// during returns b when more frames from c are already read (a burst:
// what the next frame sends is held), nil otherwise (a lone frame's
// replies go out at once, as before).
func (b *burst) during(c *quic.Conn) *burst {
	if c.FrameReady() {
		return b
	}
	return nil
}

// after releases what was held once no whole frame from c waits: before
// the reader waits for the peer.
func (b *burst) after(c *quic.Conn) {
	if len(b.held) > 0 && !c.FrameReady() {
		b.release()
	}
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
