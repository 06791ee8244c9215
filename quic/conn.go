package quic

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// Buffer sizes of a connection's frame stream. Writes of parts at least
// as large as the write buffer go to the stream without a copy.
const (
	readBufSize  = 64 << 10
	writeBufSize = 32 << 10
)

// conn is an authenticated connection and its one frame stream.
type conn struct {
	qc       *quicgo.Conn
	st       *quicgo.Stream
	maxFrame int

	// Read side: used by one goroutine at a time.
	dec   decoder
	stash []item // frames readFrame read ahead
	rerr  error  // sticky once the connection was closed for a bad frame

	// The side channels (bulk.go) and streamed frames (stream.go).
	framesReady chan *bulk // hands the frame channel to the reader
	rswitched   bool       // the reader met the switch marker
	quicExp     []byte     // the QUIC session's exporter, which names them
	noBulk      bool       // no bulk channel will attach
	maxValue    int64      // bound of a streamed body
	in          inStreams
	outID       uint64          // the last stream id sent; under wmu
	bq          bulkQueue       // the bulk channel's writer's jobs
	attached    func(kind byte) // tests: runs when a side channel was attached

	// Write side: callers queue frames and return; the connection's one
	// writer goroutine writes the queue, so frames queued while it writes
	// leave together in few stream writes. A caller waits on the peer's
	// reading only in queueWait mode, once more than limit bytes wait.
	wmu      sync.Mutex
	wcond    sync.Cond // broadcast when the writer progressed or failed
	kick     chan struct{}
	queue    []segment // segments waiting to be written
	spare    [][]byte  // owned buffers to reuse
	scratch  []byte    // for tryInline
	queued   int       // bytes queued or being written
	chunkQ   int       // of which chunk frames (stream.go)
	inflight int       // of which the writer is writing now
	flushing bool      // the writer has work
	held     int       // Hold calls not yet released: frames wait (hold.go)
	werr     error     // sticky once a write failed
	bulk     *bulk     // the bulk channel, when attached
	frames   *bulk     // the frame channel, when attached
	switched bool      // the switch marker is queued: later frames go on frames
	limit    int       // bytes waiting beyond which the policy applies
	policy   queuePolicy
}

// queuePolicy is what WriteFrame does when the queue is over its bound.
type queuePolicy int

const (
	queueWait   queuePolicy = iota // wait for the writer (backpressure)
	queueClose                     // close the connection: slow consumer
	queueRefuse                    // refuse the frame, keep the connection
)

// segment is a piece of the write queue: a copy we own, or a caller's
// large part, for the QUIC stream or the frame channel.
type segment struct {
	b      []byte
	own    bool
	frames bool // for the frame channel
	chunk  int  // bytes of chunk frames in b (stream.go)
}

// DefaultMaxQueued bounds the bytes waiting in a connection's queue before
// writers wait (SetSlowConsumer and SetQueueBound change the bound and
// what happens beyond it).
const DefaultMaxQueued = 32 << 20

func newConn(qc *quicgo.Conn, st *quicgo.Stream, cfg *Config) *Conn {
	c := &conn{
		qc:          qc,
		st:          st,
		maxFrame:    cfg.MaxFrame,
		kick:        make(chan struct{}, 1),
		framesReady: make(chan *bulk, 1),
		limit:       DefaultMaxQueued,
		maxValue:    cfg.MaxValue,
	}
	if c.maxValue <= 0 {
		c.maxValue = DefaultMaxValue
	}
	c.wcond.L = &c.wmu
	c.in.init()
	c.dec = decoder{r: bufio.NewReaderSize(st, readBufSize), in: &c.in, maxFrame: c.maxFrame, maxValue: c.maxValue}
	c.bq.cond.L = &c.bq.mu
	context.AfterFunc(qc.Context(), func() {
		err := fmt.Errorf("%w: connection closed: %w", ErrBodyAborted, c.cause(net.ErrClosed))
		c.in.failAll(err)
		c.bq.close(err)
	})
	go c.writeLoop()
	return &Conn{impl: c}
}

// readFrame returns the next frame whole: a streamed frame's head and
// body are joined. Without a bulk channel the body's chunks come on the
// QUIC stream, so it reads on, keeping the frames it meets meanwhile for
// the next calls.
func (c *conn) readFrame() ([]byte, error) {
	head, body, err := c.readStream()
	if err != nil || body == nil {
		return head, err
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := body.Bytes()
		done <- result{b, err}
	}()
	for c.in.receiving(body) && !c.in.onBulk(body) {
		p, b, chunk, err := c.readOne(true)
		if err != nil {
			body.Discard()
			return nil, err
		}
		if !chunk {
			c.stash = append(c.stash, item{p, b})
		}
	}
	r := <-done
	if r.err != nil {
		return nil, fmt.Errorf("read frame: %w", r.err)
	}
	return append(head, r.b...), nil
}

// cause prefers the connection's close reason over the stream error it
// produced (they are the same error once the connection is gone).
func (c *conn) cause(err error) error {
	select {
	case <-c.qc.Context().Done():
		if cause := context.Cause(c.qc.Context()); cause != nil && !errors.Is(err, cause) {
			return fmt.Errorf("%w (connection: %w)", err, cause)
		}
	default:
	}
	return err
}

func (c *conn) writeFrame(parts ...[]byte) error { return c.write(false, parts) }

// write queues a frame; urgent frames skip the queue bound.
func (c *conn) write(urgent bool, parts [][]byte) error {
	n, err := frameLen(parts, c.maxFrame)
	if err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	size := frameHeaderLen + n
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.admit(size, urgent); err != nil {
		return err
	}
	var hdr [frameHeaderLen]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(n))
	c.switchFrames()
	if c.bulk != nil && n >= BulkMin {
		// A large frame moves as a stream over the bulk channel that
		// the reader assembles: the QUIC writer does not wait for it.
		id := c.queueHead(flagWhole|flagBulk, nil, int64(n))
		c.queued += n
		c.bq.add(bulkJob{id: id, whole: NewBodyParts(parts)})
		return nil
	}
	c.enqueue(hdr[:], parts, size)
	// admit saw no error: one now is this frame's own inline write
	// failing, so the frame did not go out and the caller hears of it.
	return c.werr
}

// switchFrames queues the switch marker once the frame channel is
// attached: frames queued after it go on the channel. c.wmu is held.
func (c *conn) switchFrames() {
	if c.frames == nil || c.switched {
		return
	}
	var marker [frameHeaderLen]byte
	binary.BigEndian.PutUint32(marker[:], markerSwitch)
	c.appendSmall(marker[:])
	c.queued += frameHeaderLen
	c.switched = true
	c.kickWriter()
}

// enqueue queues a frame of size bytes made of prefix and parts, or sends
// it at once when it is small and can be written without waiting; c.wmu
// is held.
func (c *conn) enqueue(prefix []byte, parts [][]byte, size int) {
	if c.tryInline(prefix, parts, size) {
		return
	}
	c.appendSmall(prefix)
	for _, p := range parts {
		if len(p) >= writeBufSize {
			c.push(segment{b: p}) // large parts go out without a copy
		} else {
			c.appendSmall(p)
		}
	}
	c.queued += size
	if c.held == 0 || size > inlineMax { // only small frames are held
		c.kickWriter()
	}
}

// kickWriter wakes the writer if it is idle; c.wmu is held.
func (c *conn) kickWriter() {
	if !c.flushing {
		c.flushing = true
		c.kick <- struct{}{} // never blocks: flushing was false, so the writer drained it
	}
}

// inlineMax is the largest frame a writer sends itself, without waking
// the writer goroutine, when nothing is queued or being written and QUIC
// can take it at once.
const inlineMax = 16 << 10

// tryInline sends a small frame from the caller's goroutine if it can be
// done without waiting: nothing queued or being written (so order holds)
// and QUIC flow control has room; on a local frame channel one
// non-blocking write, its rest (if any) queued for the writer; on a TCP
// frame channel when the socket's send queue is empty. It saves a
// hand-off per message for lone requests. c.wmu is held.
func (c *conn) tryInline(hdr []byte, parts [][]byte, size int) bool {
	if c.flushing || c.held > 0 || len(c.queue) > 0 || size > inlineMax {
		return false
	}
	if c.switched && size > inlineChanMax {
		return false
	}
	buf := append(c.scratch[:0], hdr...)
	for _, p := range parts {
		buf = append(buf, p...)
	}
	c.scratch = buf
	if !c.switched {
		return c.st.TryWriteAll(buf) == nil // quic-go copies buf
	}
	if n, err, ok := c.frames.tryWrite(buf); ok {
		if err != nil {
			c.werr = c.writeErr(err)
			c.wcond.Broadcast()
		} else if n < len(buf) {
			c.appendSmall(buf[n:]) // the writer sends the rest
			c.queued += len(buf) - n
			c.kickWriter()
		}
		return true
	}
	if !c.frames.sendIdle() {
		return false
	}
	if _, err := c.frames.nc.Write(buf); err != nil {
		c.werr = c.writeErr(err)
		c.wcond.Broadcast()
	}
	return true
}

// admit applies the queue policy to a frame of size bytes; c.wmu is held.
// Bytes the writer is writing now do not count, so a frame of any size
// is accepted when nothing else waits.
func (c *conn) admit(size int, urgent bool) error {
	for {
		if c.werr != nil {
			return c.werr
		}
		if c.qc.Context().Err() != nil {
			c.werr = fmt.Errorf("write frame: %w", c.cause(net.ErrClosed))
			return c.werr
		}
		waiting := c.queued - c.inflight
		if urgent || waiting == 0 || waiting+size <= c.limit {
			return nil
		}
		switch c.policy {
		case queueClose:
			c.werr = fmt.Errorf("write frame: %w: %d bytes waiting, limit %d", ErrSlowConsumer, waiting, c.limit)
			_ = c.close(codeSlowConsumer, c.werr.Error())
			return c.werr
		case queueRefuse:
			return fmt.Errorf("write frame of %d bytes: %w: %d bytes waiting, limit %d", size, ErrQueueFull, waiting, c.limit)
		}
		if c.held > 0 {
			c.kickWriter() // held frames must not keep this writer waiting
		}
		c.wcond.Wait()
	}
}

// setQueueLimit sets the queue bound and what happens beyond it.
func (c *conn) setQueueLimit(limit int, policy queuePolicy) {
	c.wmu.Lock()
	c.limit, c.policy = limit, policy
	c.wmu.Unlock()
}

// appendSmall copies b into the tail segment (for the frame channel once
// the switch marker is queued); c.wmu is held.
func (c *conn) appendSmall(b []byte) {
	if n := len(c.queue); n > 0 && c.queue[n-1].own && c.queue[n-1].frames == c.switched {
		c.queue[n-1].b = append(c.queue[n-1].b, b...)
		return
	}
	var buf []byte
	if n := len(c.spare); n > 0 {
		buf, c.spare = c.spare[n-1][:0], c.spare[:n-1]
	} else {
		buf = make([]byte, 0, 512)
	}
	c.push(segment{b: append(buf, b...), own: true})
}

// push appends s to the queue, for the frame channel once the switch
// marker is queued; c.wmu is held.
func (c *conn) push(s segment) {
	s.frames = c.switched
	c.queue = append(c.queue, s)
}

// writeLoop is the connection's writer: it writes queued segments until
// the connection closes or a write fails.
func (c *conn) writeLoop() {
	done := c.qc.Context().Done()
	for {
		select {
		case <-c.kick:
		case <-done:
			c.wmu.Lock()
			if c.werr == nil {
				c.werr = fmt.Errorf("write frame: %w", c.cause(net.ErrClosed))
			}
			c.queue, c.queued, c.inflight, c.chunkQ = nil, 0, 0, 0
			c.wcond.Broadcast()
			c.wmu.Unlock()
			return
		}
		if !c.flush() {
			return
		}
	}
}

// flush writes the queue until it is empty; it reports false when a
// write failed (the connection is then closed).
func (c *conn) flush() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for len(c.queue) > 0 {
		segs := c.queue
		c.queue = nil
		n := 0
		for _, s := range segs {
			n += len(s.b)
		}
		c.inflight = n
		c.wmu.Unlock()
		var err error
		for _, s := range segs {
			if s.frames {
				_, err = c.frames.nc.Write(s.b) // c.frames, once set, never changes
			} else {
				_, err = c.st.Write(s.b)
			}
			if err != nil {
				break
			}
		}
		c.wmu.Lock()
		for _, s := range segs {
			if s.own && cap(s.b) <= 1<<20 && len(c.spare) < 4 {
				c.spare = append(c.spare, s.b)
			}
		}
		c.inflight = 0
		if err != nil {
			c.werr = c.writeErr(err)
			c.queue, c.queued, c.chunkQ = nil, 0, 0
			c.flushing = false
			c.wcond.Broadcast()
			return false
		}
		c.queued -= n
		for _, s := range segs {
			c.chunkQ -= s.chunk
		}
		c.wcond.Broadcast()
	}
	c.flushing = false
	c.wcond.Broadcast()
	return true
}

// flushWait waits until every frame queued so far is written, the
// connection fails, or d passes.
func (c *conn) flushWait(d time.Duration) error {
	t := time.AfterFunc(d, func() {
		c.wmu.Lock()
		c.wcond.Broadcast()
		c.wmu.Unlock()
	})
	defer t.Stop()
	deadline := time.Now().Add(d)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for c.queued > 0 && c.werr == nil {
		if !time.Now().Before(deadline) {
			return fmt.Errorf("flush: %d bytes still queued after %v", c.queued, d)
		}
		c.wcond.Wait()
	}
	return c.werr
}

// writeErr reports a failed write. The stream is unusable afterwards (a
// frame may be half written), so the connection is closed.
func (c *conn) writeErr(err error) error {
	err = fmt.Errorf("write frame: %w", c.cause(err))
	_ = c.qc.CloseWithError(codeBadFrame, "write failed")
	return err
}

func (c *conn) close(code uint64, reason string) error {
	return c.qc.CloseWithError(quicgo.ApplicationErrorCode(code), reason)
}

func (c *conn) remoteAddr() net.Addr { return c.qc.RemoteAddr() }

func (c *conn) done() <-chan struct{} { return c.qc.Context().Done() }

func (c *conn) err() error {
	select {
	case <-c.qc.Context().Done():
		return context.Cause(c.qc.Context())
	default:
		return nil
	}
}

func (c *conn) packetsReceived() uint64 { return c.qc.ConnectionStats().PacketsReceived }
