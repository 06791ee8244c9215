package quic

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Streamed frames. A frame sent with WriteStream whose body is StreamMin
// bytes or more travels as its head, in order on the QUIC stream, and its
// body in chunks: on the bulk channel when the connection has one when
// the stream starts, otherwise as chunk frames on the QUIC stream between
// the other frames. The reader returns the head at once with a Body that
// delivers the chunks as they arrive, so neither end's QUIC reader or
// writer waits for a body in flight.
//
// On the QUIC stream, a length prefix of markerHead or markerChunk is not
// a length:
//
//	markerHead  [1 flags][8 id][8 body size][4 head length][head]
//	markerChunk [8 id][4 length][data]
//
// and on the bulk channel every item is a chunk, [8 id][4 length][data].
// Ids count from 1 per direction, in the order of the heads; a length of
// abortLen (no data) aborts the stream. A stream's chunks arrive in order
// on one channel; chunks of different streams may interleave. A bulk
// chunk may arrive before its head, and then waits for it.
const (
	// markerSwitch says that every later item is on the frame channel
	// (bulk.go).
	markerSwitch = 0xFFFFFFFC
	markerChunk  = 0xFFFFFFFD
	markerHead   = 0xFFFFFFFE
	// abortLen, as a chunk's length, aborts its stream.
	abortLen = 0xFFFFFFFF
	// flagWhole marks a stream that is one ordinary frame (WriteFrame of
	// BulkMin bytes or more over the bulk channel): the reader assembles
	// it and returns it as a frame.
	flagWhole = 1
	// flagBulk says the stream's chunks come on the bulk channel.
	flagBulk = 2

	headPrefixLen  = frameHeaderLen + 1 + 8 + 8 + 4
	chunkPrefixLen = 8 + 4
)

// StreamMin is the smallest body WriteStream streams; smaller ones go out
// as one frame with their head.
const StreamMin = BulkMin

// DefaultMaxValue is the default bound on a streamed body: 4 GiB.
const DefaultMaxValue = 4 << 30

// maxChunk bounds a received chunk (the sender's are ChunkSize).
const maxChunk = 4 * ChunkSize

// StreamStall is how long a chunk may wait for a peer in slow-consumer
// mode (a client, at the controller) to take it on the bulk channel
// before the connection is closed as a slow consumer.
var StreamStall = 10 * time.Second

// inStreams are the bodies a connection is receiving.
type inStreams struct {
	mu   sync.Mutex
	cond sync.Cond
	open map[uint64]*inStream
	last uint64 // the highest id announced
	err  error  // set once the connection closed
}

type inStream struct {
	body *Body
	got  int64
	bulk bool // its chunks come on the bulk channel
	fd   bool // it comes as a memfd on the bulk channel (memfd.go)
}

// receiving reports whether b is still receiving chunks.
func (in *inStreams) receiving(b *Body) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, s := range in.open {
		if s.body == b {
			return true
		}
	}
	return false
}

// onBulk reports whether b's chunks were seen on the bulk channel.
func (in *inStreams) onBulk(b *Body) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, s := range in.open {
		if s.body == b {
			return s.bulk
		}
	}
	return false
}

func (in *inStreams) init() {
	in.cond.L = &in.mu
	in.open = map[uint64]*inStream{}
}

// announce registers the body of a head the reader met.
func (in *inStreams) announce(id uint64, size int64, bulk, fd bool) (*Body, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err != nil {
		return nil, in.err
	}
	if id != in.last+1 {
		return nil, fmt.Errorf("stream %d announced after stream %d", id, in.last)
	}
	in.last = id
	in.cond.Broadcast()
	if fd {
		b := newFDBody(size, newSharedFD())
		in.open[id] = &inStream{body: b, bulk: true, fd: true}
		return b, nil
	}
	b := newPushed(size)
	if size == 0 {
		b.end()
		return b, nil
	}
	in.open[id] = &inStream{body: b, bulk: bulk}
	return b, nil
}

// account finds stream id for a chunk of n bytes and counts them; wait
// lets a bulk chunk wait for its head.
func (in *inStreams) account(id uint64, n uint32, wait bool) (s *inStream, last bool, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for wait && id > in.last && in.err == nil {
		in.cond.Wait()
	}
	if in.err != nil {
		return nil, false, in.err
	}
	if s = in.open[id]; s == nil || s.bulk != wait {
		return nil, false, fmt.Errorf("chunk for unknown stream %d", id)
	}
	if n == abortLen {
		delete(in.open, id)
		return s, true, nil
	}
	if s.fd != (n == fdLen) {
		return nil, false, fmt.Errorf("stream %d: a chunk for a memfd body, or a memfd for a chunked one", id)
	}
	if s.fd {
		delete(in.open, id)
		return s, true, nil
	}
	if n > maxChunk {
		return nil, false, &frameTooLargeError{what: "chunk", size: uint64(n), limit: maxChunk}
	}
	if s.got+int64(n) > s.body.size {
		return nil, false, fmt.Errorf("stream %d: more than the %d bytes announced", id, s.body.size)
	}
	s.got += int64(n)
	if s.got == s.body.size {
		delete(in.open, id)
		last = true
	}
	return s, last, nil
}

// failAll ends every body being received with err.
func (in *inStreams) failAll(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err == nil {
		in.err = err
	}
	for id, s := range in.open {
		s.body.fail(err)
		delete(in.open, id)
	}
	in.cond.Broadcast()
}

// chunkIn reads a chunk of n bytes of stream id from r and hands it to
// its body.
func (in *inStreams) chunkIn(id uint64, n uint32, r io.Reader, wait bool) error {
	s, last, err := in.account(id, n, wait)
	if err != nil {
		return err
	}
	if n == abortLen {
		s.body.fail(errors.New("the sender aborted it"))
		return nil
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		err = unexpected(err)
		s.body.fail(err)
		return err
	}
	s.body.put(buf)
	if last {
		s.body.end()
	}
	return nil
}

// decoder reads the items of a connection's QUIC stream: frames, stream
// heads and chunk frames. It does no I/O but reading r.
type decoder struct {
	r        io.Reader
	in       *inStreams
	maxFrame int
	maxValue int64
	hdr      [frameHeaderLen]byte
}

// next returns the next frame (p), or the next stream's head and body
// (whole says the stream is one frame to assemble). Chunk frames are
// handed to their bodies on the way. Errors other than the end of r are
// the peer's fault.
func (d *decoder) next() (p []byte, body *Body, whole bool, err error) {
	for {
		var chunk bool
		if p, body, whole, chunk, err = d.item(); !chunk || err != nil {
			return p, body, whole, err
		}
	}
}

// item reads one item: a frame, a stream head, or a chunk frame (chunk is
// then set, and the chunk was handed to its body).
func (d *decoder) item() (p []byte, body *Body, whole, chunk bool, err error) {
	b, err := readFrame(d.r, d.maxFrame, &d.hdr)
	if err != errMarker {
		return b, nil, false, false, err
	}
	switch binary.BigEndian.Uint32(d.hdr[:]) {
	case markerChunk:
		var h [chunkPrefixLen]byte
		if _, err := io.ReadFull(d.r, h[:]); err != nil {
			return nil, nil, false, true, unexpected(err)
		}
		return nil, nil, false, true, d.in.chunkIn(binary.BigEndian.Uint64(h[:]), binary.BigEndian.Uint32(h[8:]), d.r, false)
	case markerHead:
		p, body, whole, err = d.head()
		return p, body, whole, false, err
	case markerSwitch:
		return nil, nil, false, false, errSwitch
	}
	return nil, nil, false, false, errors.New("a bulk marker (an older peer)")
}

// head reads a stream head after its marker.
func (d *decoder) head() (head []byte, body *Body, whole bool, err error) {
	var h [headPrefixLen - frameHeaderLen]byte
	if _, err := io.ReadFull(d.r, h[:]); err != nil {
		return nil, nil, false, unexpected(err)
	}
	flags := h[0]
	id := binary.BigEndian.Uint64(h[1:])
	size := binary.BigEndian.Uint64(h[9:])
	hl := binary.BigEndian.Uint32(h[17:])
	whole = flags&flagWhole != 0
	fd := flags&flagFD != 0
	switch {
	case fd && (whole || flags&flagBulk == 0 || size == 0):
		return nil, nil, false, fmt.Errorf("a memfd stream head with flags %#x and size %d", flags, size)
	case uint64(hl) > uint64(d.maxFrame):
		return nil, nil, false, &frameTooLargeError{size: uint64(hl), limit: d.maxFrame}
	case whole && size+uint64(hl) > uint64(d.maxFrame):
		return nil, nil, false, &frameTooLargeError{size: size + uint64(hl), limit: d.maxFrame}
	case size > uint64(d.maxValue):
		return nil, nil, false, &frameTooLargeError{what: "streamed value", size: size, limit: int(d.maxValue)}
	}
	head = make([]byte, hl)
	if _, err := io.ReadFull(d.r, head); err != nil {
		return nil, nil, false, unexpected(err)
	}
	body, err = d.in.announce(id, int64(size), flags&flagBulk != 0, fd)
	return head, body, whole, err
}

// readChunks reads the bulk channel's chunks until it fails.
func (c *conn) readChunks(b *bulk) {
	var h [chunkPrefixLen]byte
	for {
		if _, err := io.ReadFull(b.br, h[:]); err != nil {
			if err == io.EOF {
				// The peer closed its end between chunks: it is closing
				// the connection, whose reason QUIC brings, or its process
				// died, which QUIC's idle timeout tells. (A peer that
				// closed only this channel can send no more chunks: its
				// own next write fails and closes the connection.)
				<-c.qc.Context().Done()
				return
			}
			c.in.failAll(fmt.Errorf("bulk channel: %w", c.cause(unexpected(err))))
			_ = c.close(codeBadFrame, "bulk channel failed")
			return
		}
		id, n := binary.BigEndian.Uint64(h[:]), binary.BigEndian.Uint32(h[8:])
		var err error
		switch {
		case n == fdLen:
			err = c.fdIn(b, id)
		case (n == ackLen || n == ackHeldLen) && b.window != nil:
			err = b.window.ack(id, n == ackHeldLen)
		default:
			err = c.in.chunkIn(id, n, b.br, true)
		}
		if err != nil {
			c.badStream(fmt.Errorf("bulk channel: %w", err))
			return
		}
	}
}

// badStream closes the connection after a malformed stream item.
func (c *conn) badStream(err error) {
	code := uint64(codeBadFrame)
	if errors.Is(err, ErrFrameTooLarge) {
		code = codeTooLarge
	}
	c.in.failAll(err)
	_ = c.close(code, truncate(err.Error(), 200))
}

// item is a frame, or a stream's head and body.
type item struct {
	p    []byte
	body *Body
}

// readStream returns the next frame: its payload, or for a streamed frame
// its head and its body.
func (c *conn) readStream() ([]byte, *Body, error) {
	if len(c.stash) > 0 {
		it := c.stash[0]
		c.stash = c.stash[1:]
		return it.p, it.body, nil
	}
	return c.readItem()
}

// readItem reads the next frame or stream from the QUIC stream; errors
// are sticky.
func (c *conn) readItem() ([]byte, *Body, error) {
	p, body, _, err := c.readOne(false)
	return p, body, err
}

// readOne reads the next frame or stream, or with chunks the next item
// of any kind (chunk reports a chunk frame); errors are sticky.
func (c *conn) readOne(chunks bool) (_ []byte, _ *Body, chunk bool, _ error) {
	if c.rerr != nil {
		return nil, nil, false, c.rerr
	}
	var p []byte
	var body *Body
	var whole bool
	var err error
	for {
		if chunks {
			p, body, whole, chunk, err = c.dec.item()
		} else {
			p, body, whole, err = c.dec.next()
		}
		if err != errSwitch {
			break
		}
		if err = c.switchReader(); err != nil {
			break
		}
	}
	if err != nil && err != io.EOF {
		defer func() { c.rerr = fmt.Errorf("read frame: %w", err) }()
	}
	switch {
	case err == nil && whole:
		b, err := body.Bytes()
		if err != nil {
			return nil, nil, false, fmt.Errorf("read frame: %w", err)
		}
		return b, nil, false, nil
	case err == nil && body != nil && body.mfd != nil:
		if err = c.fdRefused(); err != nil {
			c.rerr = fmt.Errorf("read frame: %w", err)
			c.badStream(err)
			return nil, nil, false, c.rerr
		}
		return p, body, chunk, nil
	case err == nil:
		return p, body, chunk, nil
	case c.rswitched && channelEnded(err):
		return nil, nil, false, c.framesEnded(err)
	case errors.Is(err, io.ErrUnexpectedEOF), err == io.EOF, c.qc.Context().Err() != nil:
		return nil, nil, false, c.readErr(err)
	case errors.As(err, new(*frameTooLargeError)):
		return nil, nil, false, c.readErr(err)
	}
	c.rerr = fmt.Errorf("read frame: %w", err)
	c.badStream(err)
	return nil, nil, false, c.rerr
}

// switchReader follows the switch marker: the peer writes every later
// item on the frame channel, which the reader reads from now on.
func (c *conn) switchReader() error {
	if c.rswitched {
		return errors.New("a second switch marker")
	}
	c.rswitched = true
	select {
	case b := <-c.framesReady:
		c.dec.r = b.br
		return nil
	case <-c.qc.Context().Done():
		return io.ErrUnexpectedEOF
	}
}

// channelEnded reports whether err ends a side channel's bytes (rather
// than reporting what they were).
func channelEnded(err error) bool {
	var ne net.Error
	return err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.As(err, &ne)
}

// closeWait is how long a reader whose frame channel ended waits for the
// QUIC connection's close, which carries the reason: the peer closes its
// channels when its connection closes, and the two ends may arrive in
// either order.
const closeWait = time.Second

// framesEnded reports the end of the frame channel: the connection's
// close reason when the connection closed, else a failure of the channel,
// after which the connection is closed (a frame may be half read).
func (c *conn) framesEnded(err error) error {
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-c.qc.Context().Done():
		c.rerr = fmt.Errorf("read frame: %w", context.Cause(c.qc.Context()))
	case <-t.C:
		c.rerr = fmt.Errorf("read frame: frame channel: %w", unexpected(err))
		c.in.failAll(c.rerr)
		_ = c.close(codeBadFrame, "frame channel failed")
	}
	return c.rerr
}

// readErr reports a failed readFrame.
func (c *conn) readErr(err error) error {
	if tooLarge, ok := errors.AsType[*frameTooLargeError](err); ok {
		c.rerr = fmt.Errorf("read frame: %w", tooLarge)
		_ = c.close(codeTooLarge, tooLarge.Error())
		return c.rerr
	}
	if err == io.EOF {
		return io.EOF
	}
	return fmt.Errorf("read frame: %w", c.cause(err))
}

// writeStream sends head and body as a streamed frame (or as one frame
// when the body is small and at hand: a small body that is still
// arriving is streamed too, so the caller never waits for it).
func (c *conn) writeStream(head []byte, body *Body) error {
	size := body.Size()
	if size < StreamMin && body.pull != nil {
		b, err := body.Bytes()
		if err != nil {
			return fmt.Errorf("write frame: %w", err)
		}
		return c.write(false, [][]byte{head, b})
	}
	if len(head) > c.maxFrame {
		body.Discard()
		return fmt.Errorf("write frame: %w", &frameTooLargeError{size: uint64(len(head)), limit: c.maxFrame})
	}
	if size > c.maxValue {
		body.Discard()
		return fmt.Errorf("write frame: %w", &frameTooLargeError{what: "streamed value", size: uint64(size), limit: int(c.maxValue)})
	}
	c.wmu.Lock()
	fd := c.bulk != nil && c.bulk.local && size > 0 && (body.mfd != nil || body.parts != nil && size >= FDMin)
	var pool *fdPool
	if fd {
		pool = c.bulk.pool
	}
	c.wmu.Unlock()
	var own *os.File
	var reused bool
	if fd && body.mfd == nil {
		own, reused, fd = ownMemfd(body, pool) // else in chunks
	}
	if !fd {
		body.settle() // chunks are read after the write returns
	}
	c.wmu.Lock()
	if err := c.admit(headPrefixLen+len(head), false); err != nil {
		c.wmu.Unlock()
		body.Discard()
		if own != nil {
			own.Close()
		}
		return err
	}
	bulk := c.bulk != nil
	flags := byte(0)
	if bulk {
		flags = flagBulk
	}
	if fd {
		flags |= flagFD
	}
	id := c.queueHead(flags, head, size)
	c.wmu.Unlock()
	if fd {
		go c.sendFD(id, body, own, reused)
	} else {
		go c.sendBody(id, body, bulk)
	}
	return nil
}

// sendFD sends a stream's memfd: own, made for this send (from the pool
// when reused), or body's, once it arrived (an abort if it does not). A
// memfd not sealed is kept (own, back in the pool) or released (body's,
// forwarded) only once the peer acknowledged it (fdpool.go).
func (c *conn) sendFD(id uint64, body *Body, own *os.File, reused bool) {
	f := own
	if f == nil {
		var err error
		if f, err = body.fdFile(); err != nil {
			c.sendChunk(id, nil, true, true) // the receiver's body fails
			return
		}
	}
	c.wmu.Lock()
	b := c.bulk
	c.wmu.Unlock()
	sent, err := c.fdAdmit(b, id, body.size)
	if err == nil {
		done := make(chan error, 1)
		c.bq.add(bulkJob{id: id, fd: f, done: done})
		if err = <-done; err == nil {
			fdSent.Add(1)
		}
	}
	if sent != nil && (own != nil && reused || own == nil && !body.mfd.isSealed()) {
		// The peer may have it: it is released once the peer says so.
		held := err != nil || c.released(sent) != nil
		switch {
		case own != nil && !held:
			b.pool.put(own, body.size)
			own = nil
			fdKept.Add(1)
		case own != nil:
			fdDropped.Add(1)
		case held:
			body.mfd.heldBy()
		}
	}
	if own != nil {
		own.Close()
	}
	body.Discard()
}

// released waits for the acknowledgement of a memfd not sealed; it fails
// when the peer may hold the memfd still (it said so, or the connection
// closed first).
func (c *conn) released(sent *fdOut) error {
	select {
	case <-sent.acked:
		if sent.held {
			return errors.New("memfd held")
		}
		return nil
	case <-c.qc.Context().Done():
		return net.ErrClosed
	}
}

// queueHead queues a stream's head and returns its id; c.wmu is held.
func (c *conn) queueHead(flags byte, head []byte, size int64) uint64 {
	c.outID++
	var p [headPrefixLen]byte
	binary.BigEndian.PutUint32(p[:], markerHead)
	p[4] = flags
	binary.BigEndian.PutUint64(p[5:], c.outID)
	binary.BigEndian.PutUint64(p[13:], uint64(size))
	binary.BigEndian.PutUint32(p[21:], uint32(len(head)))
	c.enqueue(p[:], [][]byte{head}, len(p)+len(head))
	if c.held > 0 {
		c.kickWriter() // a streamed value is not held back (Hold)
	}
	return c.outID
}

// sendBody sends a stream's chunks, one at a time: a chunk is taken from
// body only once the previous one was written.
func (c *conn) sendBody(id uint64, body *Body, bulk bool) {
	for {
		chunk, err := body.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			c.sendChunk(id, nil, bulk, true) // the receiver's body fails
			return
		}
		if err := c.sendChunk(id, chunk, bulk, false); err != nil {
			body.Discard()
			return
		}
	}
}

// chunkPrefix is a chunk's prefix on the QUIC stream; its last
// chunkPrefixLen bytes are its prefix on the bulk channel.
func chunkPrefix(id uint64, n int, abort bool) [frameHeaderLen + chunkPrefixLen]byte {
	var h [frameHeaderLen + chunkPrefixLen]byte
	binary.BigEndian.PutUint32(h[:], markerChunk)
	binary.BigEndian.PutUint64(h[4:], id)
	l := uint32(n)
	if abort {
		l = abortLen
	}
	binary.BigEndian.PutUint32(h[12:], l)
	return h
}

// sendChunk sends one chunk, or an abort, of stream id.
func (c *conn) sendChunk(id uint64, chunk []byte, bulk, abort bool) error {
	h := chunkPrefix(id, len(chunk), abort)
	if bulk {
		done := make(chan error, 1)
		c.bq.add(bulkJob{id: id, chunk: chunk, abort: abort, done: done})
		return <-done
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.admitChunk(len(h) + len(chunk)); err != nil {
		return err
	}
	c.enqueueChunk(h[:], chunk)
	return nil
}

// enqueueChunk queues a chunk frame, counting it in chunkQ until it is
// written; c.wmu is held.
func (c *conn) enqueueChunk(prefix, data []byte) {
	c.appendSmall(prefix)
	c.queue[len(c.queue)-1].chunk += len(prefix)
	if len(data) >= writeBufSize {
		c.push(segment{b: data, chunk: len(data)}) // without a copy
	} else {
		c.appendSmall(data)
		c.queue[len(c.queue)-1].chunk += len(data)
	}
	n := len(prefix) + len(data)
	c.queued += n
	c.chunkQ += n
	c.kickWriter()
}

// maxChunksAhead bounds the chunk frames queued or being written on the
// frame stream, over all the streams it carries: a frame queued behind
// them waits for at most this many bytes of bodies (two chunks and their
// prefixes), however large and however many the bodies in flight.
const maxChunksAhead = 2 * (ChunkSize + frameHeaderLen + chunkPrefixLen)

// admitChunk waits for room for a chunk frame on the frame stream: the
// queue's bound, whatever its policy, and maxChunksAhead; in
// slow-consumer mode for at most StreamStall, after which the peer is
// disconnected as a slow consumer. c.wmu is held.
func (c *conn) admitChunk(size int) error {
	var deadline time.Time
	if c.policy == queueClose {
		deadline = time.Now().Add(StreamStall)
		t := time.AfterFunc(StreamStall, func() {
			c.wmu.Lock()
			c.wcond.Broadcast()
			c.wmu.Unlock()
		})
		defer t.Stop()
	}
	for {
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			c.werr = fmt.Errorf("write frame: %w: a chunk waited %v for room", ErrSlowConsumer, StreamStall)
			_ = c.close(codeSlowConsumer, c.werr.Error())
			return c.werr
		}
		if c.werr != nil {
			return c.werr
		}
		if c.qc.Context().Err() != nil {
			return fmt.Errorf("write frame: %w", c.cause(net.ErrClosed))
		}
		waiting := c.queued - c.inflight
		if (waiting == 0 || waiting+size <= c.limit) && (c.chunkQ == 0 || c.chunkQ+size <= maxChunksAhead) {
			return nil
		}
		c.wcond.Wait()
	}
}

// The bulk channel's writer takes jobs in order: a chunk of a stream, or
// a whole frame's stream at once. Whole frames, which their reader
// assembles before reading on, are never interleaved with chunks of later
// streams, so that a chunk whose head the reader has not reached yet is
// never ahead of the bytes the reader waits for.
type bulkJob struct {
	id    uint64
	chunk []byte
	fd    *os.File // a memfd body's descriptor
	ack   bool     // acknowledge memfd id
	held  bool     // with ackHeldLen
	abort bool
	whole *Body      // a whole frame's stream; its bytes count in queued
	done  chan error // for a chunk: its outcome
}

type bulkQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	jobs   []bulkJob
	closed error
}

func (q *bulkQueue) add(j bulkJob) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed != nil {
		if j.done != nil {
			j.done <- q.closed
		}
		return
	}
	q.jobs = append(q.jobs, j)
	q.cond.Signal()
}

// close fails the jobs waiting and those added later.
func (q *bulkQueue) close(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed == nil {
		q.closed = err
	}
	for _, j := range q.jobs {
		if j.done != nil {
			j.done <- q.closed
		}
	}
	q.jobs = nil
	q.cond.Broadcast()
}

func (q *bulkQueue) next() (bulkJob, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.jobs) == 0 && q.closed == nil {
		q.cond.Wait()
	}
	if q.closed != nil {
		return bulkJob{}, false
	}
	j := q.jobs[0]
	q.jobs[0] = bulkJob{}
	q.jobs = q.jobs[1:]
	return j, true
}

// bulkLoop is the bulk channel's writer.
func (c *conn) bulkLoop(b *bulk) {
	for {
		j, ok := c.bq.next()
		if !ok {
			return
		}
		var err error
		if j.whole != nil {
			err = c.bulkWhole(b, j)
		} else if j.ack {
			h := chunkPrefix(j.id, 0, false)
			n := uint32(ackLen)
			if j.held {
				n = ackHeldLen
			}
			binary.BigEndian.PutUint32(h[frameHeaderLen+8:], n)
			err = c.bulkWrite(b, h[frameHeaderLen:], nil)
		} else if j.fd != nil {
			h := chunkPrefix(j.id, 0, false)
			binary.BigEndian.PutUint32(h[frameHeaderLen+8:], fdLen)
			err = c.bulkWriteFD(b, h[frameHeaderLen:], j.fd)
			j.done <- err
		} else {
			h := chunkPrefix(j.id, len(j.chunk), j.abort)
			err = c.bulkWrite(b, h[frameHeaderLen:], j.chunk)
			j.done <- err
		}
		if err != nil {
			c.bq.close(err)
			return
		}
	}
}

// bulkWhole writes a whole frame's stream.
func (c *conn) bulkWhole(b *bulk, j bulkJob) error {
	for {
		chunk, err := j.whole.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err // a body in memory does not fail
		}
		h := chunkPrefix(j.id, len(chunk), false)
		if err := c.bulkWrite(b, h[frameHeaderLen:], chunk); err != nil {
			return err
		}
		c.wmu.Lock()
		if c.werr == nil {
			c.queued -= len(chunk)
		}
		c.wcond.Broadcast()
		c.wmu.Unlock()
	}
}

// bulkWrite writes a chunk on the bulk channel; a peer in slow-consumer
// mode that does not take it within StreamStall is disconnected.
func (c *conn) bulkWrite(b *bulk, prefix, chunk []byte) error {
	c.wmu.Lock()
	slow := c.policy == queueClose
	c.wmu.Unlock()
	if slow {
		b.nc.SetWriteDeadline(time.Now().Add(StreamStall))
	}
	_, err := b.nc.Write(prefix)
	if err == nil && len(chunk) > 0 {
		_, err = b.nc.Write(chunk)
	}
	return c.bulkWriteErr(err)
}

// bulkWriteFD writes a memfd item on the local bulk channel; a peer in
// slow-consumer mode that does not take it within StreamStall is
// disconnected.
func (c *conn) bulkWriteFD(b *bulk, prefix []byte, f *os.File) error {
	c.wmu.Lock()
	slow := c.policy == queueClose
	c.wmu.Unlock()
	if slow {
		b.nc.SetWriteDeadline(time.Now().Add(StreamStall))
	}
	return c.bulkWriteErr(writeFD(b.nc, prefix, f))
}

// bulkWriteErr handles the outcome of a write on the bulk channel.
func (c *conn) bulkWriteErr(err error) error {
	if err == nil {
		return nil
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		err = fmt.Errorf("write frame: %w: a chunk waited %v on the bulk channel", ErrSlowConsumer, StreamStall)
		c.wmu.Lock()
		c.werr = err
		c.wmu.Unlock()
		_ = c.close(codeSlowConsumer, err.Error())
		return err
	}
	c.wmu.Lock()
	c.werr = c.writeErr(err)
	err = c.werr
	c.wmu.Unlock()
	return err
}

// ReadStream returns the next frame. For a streamed frame (see
// WriteStream) it returns the head at once and body delivers the rest as
// it arrives; body is nil for an ordinary frame. The caller must consume
// or Discard every body it gets: the connection delivers the chunks of
// later bodies on the bulk channel only as earlier ones are taken.
func (c *Conn) ReadStream() (head []byte, body *Body, err error) { return c.impl.readStream() }

// WriteStream sends head followed by body as a streamed frame: head
// (at most the frame limit) in order with the other frames, the body
// (at most Config.MaxValue) in chunks as body delivers them, without
// holding back the frames written after it. A body under StreamMin bytes
// at hand goes out as one ordinary frame. The connection consumes body (or
// discards it when the connection fails).
func (c *Conn) WriteStream(head []byte, body *Body) error { return c.impl.writeStream(head, body) }

// MaxValue is the largest body the connection sends or accepts.
func (c *Conn) MaxValue() int64 { return c.impl.maxValue }
