package quic

import (
	"bufio"
	"encoding/binary"
)

// Hold makes the small frames written to c from now on (by any
// goroutine) wait in its queue until the matching Release, which sends
// them together, usually in one system call: a peer that answers a burst
// of frames, or sends several results in a row, pays one write instead of
// one per frame. Holds nest. A frame over 16 KiB, a streamed value, or a
// writer waiting for room in the queue sends what was held, in order.
// The caller must Release soon: nothing else sends held frames.
func (c *Conn) Hold() { c.impl.hold() }

// Release ends a Hold; at the last one what was held is sent.
func (c *Conn) Release() { c.impl.release() }

// FrameReady reports whether a whole frame has already been read from
// the peer and waits in the reader's buffer, so that the next ReadFrame
// or ReadStream returns without waiting. Only the goroutine that reads
// the connection may call it.
func (c *Conn) FrameReady() bool { return c.impl.frameReady() }

func (c *conn) hold() {
	c.wmu.Lock()
	c.held++
	c.wmu.Unlock()
}

func (c *conn) release() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.held == 0 {
		return
	}
	c.held--
	if c.held > 0 || c.flushing || len(c.queue) == 0 {
		return
	}
	// One segment of frames (appendSmall joins small frames) is sent at
	// once, as a lone frame would be; anything else goes to the writer.
	if s := c.queue[0]; len(c.queue) == 1 && s.own && s.chunk == 0 && s.frames == c.switched {
		c.queue = c.queue[:0]
		c.queued -= len(s.b)
		if c.tryInline(nil, [][]byte{s.b}, len(s.b)) {
			if cap(s.b) <= 1<<20 && len(c.spare) < 4 {
				c.spare = append(c.spare, s.b)
			}
			c.wcond.Broadcast()
			return
		}
		c.queue = append(c.queue, s)
		c.queued += len(s.b)
	}
	c.kickWriter()
}

func (c *conn) frameReady() bool {
	if len(c.stash) > 0 {
		return true
	}
	r, ok := c.dec.r.(*bufio.Reader)
	if !ok || r.Buffered() < frameHeaderLen {
		return false
	}
	h, err := r.Peek(frameHeaderLen)
	if err != nil {
		return false
	}
	n := binary.BigEndian.Uint32(h)
	return n < minMarker && uint64(r.Buffered()) >= uint64(frameHeaderLen)+uint64(n)
}
