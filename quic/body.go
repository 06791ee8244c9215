package quic

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// ChunkSize is the size of the chunks a streamed body moves in.
const ChunkSize = 1 << 20

// chunkQueue is how many chunks a body holds between its producer and
// its consumer: a streamed body costs at most chunkQueue × ChunkSize
// bytes per hop while it passes (see docs/ARCHITECTURE.md).
const chunkQueue = 4

// ErrBodyAborted means a streamed body stopped before its end: its sender
// aborted it or the connection carrying it closed.
var ErrBodyAborted = errors.New("streamed body aborted")

// Body is the body of a streamed frame: Size bytes that arrive in chunks.
// One goroutine consumes it, with Next or Bytes (or hands it to
// Conn.WriteStream or Tee); a consumer that stops early calls Discard so
// that the producer does not wait for it.
type Body struct {
	size int64
	// pull, when set, produces the chunks on demand (a body in memory or
	// in a file); otherwise a producer puts them into ch.
	pull   func() ([]byte, error)
	ch     chan []byte
	failed chan struct{} // closed with err set when the producer failed
	err    error
	gone   chan struct{} // closed by Discard
	fonce  sync.Once
	gonce  sync.Once
	read   int64 // bytes returned by Next
	// release, when set, runs on Discard (a file body closes its file).
	release func()
	// parts is the memory a body made by NewBodyParts is over.
	parts [][]byte
	// volatile says parts may change once the write that takes the body
	// returns (NewBodyPartsVolatile).
	volatile bool
	// unmapped says the body's receivers read it, never map it (Unmapped).
	unmapped bool
	// mfd, when set, is the memfd that carries the body (memfd.go).
	mfd    *sharedFD
	fdOnce sync.Once
}

// NewBody returns a body over b: its chunks are slices of b (no copy).
func NewBody(b []byte) *Body {
	return NewBodyParts([][]byte{b})
}

// NewBodyParts returns a body that is the concatenation of parts, in
// chunks of at most ChunkSize that are slices of the parts.
func NewBodyParts(parts [][]byte) *Body {
	var n int64
	for _, p := range parts {
		n += int64(len(p))
	}
	return &Body{size: n, parts: parts, gone: make(chan struct{}), pull: partsPull(parts)}
}

// partsPull returns the chunks of parts, in order, then io.EOF.
func partsPull(parts [][]byte) func() ([]byte, error) {
	i, off := 0, 0
	return func() ([]byte, error) {
		for i < len(parts) && off == len(parts[i]) {
			i, off = i+1, 0
		}
		if i == len(parts) {
			return nil, io.EOF
		}
		end := min(off+ChunkSize, len(parts[i]))
		c := parts[i][off:end]
		off = end
		return c, nil
	}
}

// NewBodyPartsVolatile is NewBodyParts of parts that may change once
// the write that takes the body (Conn.WriteStream) returns, such as an
// array's memory: the write copies them into the memfd it sends, which
// it does before it returns, or else into one buffer of the body's own.
func NewBodyPartsVolatile(parts [][]byte) *Body {
	b := NewBodyParts(parts)
	b.volatile = true
	return b
}

// Unmapped marks a body in memory whose receivers read it and never map
// it (its value holds no large array, protocol.MayHoldArray): to a local
// peer it then travels, up to 256 MiB, in a memfd that is not sealed,
// which the connection writes again for a later body once the peer
// released it (fdpool.go). It returns b.
func (b *Body) Unmapped() *Body {
	b.unmapped = true
	return b
}

// settle copies a volatile body's parts into one buffer of its own, so
// that the body no longer reads memory that may change.
func (b *Body) settle() {
	if !b.volatile || b.read != 0 {
		return
	}
	own := make([]byte, 0, b.size)
	for _, p := range b.parts {
		own = append(own, p...)
	}
	b.parts, b.pull, b.volatile = [][]byte{own}, partsPull([][]byte{own}), false
}

// NewBodyReader returns a body of size bytes read from r in chunks; done,
// if not nil, runs once the body was read, failed or discarded.
func NewBodyReader(r io.Reader, size int64, done func()) *Body {
	var left = size
	var once sync.Once
	finish := func() {
		if done != nil {
			once.Do(done)
		}
	}
	b := &Body{size: size, gone: make(chan struct{})}
	b.pull = func() ([]byte, error) {
		if left == 0 {
			finish()
			return nil, io.EOF
		}
		c := make([]byte, min(int64(ChunkSize), left))
		if _, err := io.ReadFull(r, c); err != nil {
			finish()
			return nil, fmt.Errorf("read body: %w", unexpected(err))
		}
		left -= int64(len(c))
		return c, nil
	}
	b.release = finish
	return b
}

// newPushed returns a body whose chunks a producer puts.
func newPushed(size int64) *Body {
	return &Body{size: size, ch: make(chan []byte, chunkQueue), failed: make(chan struct{}), gone: make(chan struct{})}
}

// Size is the body's length in bytes.
func (b *Body) Size() int64 { return b.size }

// Next returns the next chunk, io.EOF after the last one, or the error
// that ended the body early (wrapping ErrBodyAborted). The chunk is the
// caller's; it must not be changed if the body was teed.
func (b *Body) Next() ([]byte, error) {
	if b.mfd != nil {
		return b.nextFD()
	}
	var c []byte
	var err error
	if b.pull != nil {
		if c, err = b.pull(); err != nil && err != io.EOF {
			err = fmt.Errorf("%w: %w", ErrBodyAborted, err)
		}
	} else {
		select {
		case ch, ok := <-b.ch:
			if !ok {
				err = io.EOF
			}
			c = ch
		case <-b.failed:
			err = b.err
		}
	}
	if err == io.EOF && b.read != b.size {
		err = fmt.Errorf("%w: %d of %d bytes", ErrBodyAborted, b.read, b.size)
	}
	b.read += int64(len(c))
	if err == nil && b.read > b.size {
		err = fmt.Errorf("%w: more than the %d bytes announced", ErrBodyAborted, b.size)
	}
	return c, err
}

// Bytes reads the rest of the body into one buffer of its size.
func (b *Body) Bytes() ([]byte, error) {
	if b.mfd != nil {
		return b.bytesFD()
	}
	if b.pull != nil && b.read == 0 {
		// A body over one slice of memory is that slice.
		c, err := b.Next()
		if err == nil && int64(len(c)) == b.size {
			return c, nil
		}
		if err == io.EOF {
			return []byte{}, nil
		}
		if err != nil {
			return nil, err
		}
		return b.collect(append(make([]byte, 0, b.size), c...))
	}
	return b.collect(make([]byte, 0, b.size-b.read))
}

func (b *Body) collect(buf []byte) ([]byte, error) {
	for {
		c, err := b.Next()
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			b.Discard()
			return nil, err
		}
		buf = append(buf, c...)
	}
}

// Discard tells the producer that nobody reads the rest of the body.
func (b *Body) Discard() {
	if b.mfd != nil {
		b.releaseFD()
	}
	b.gonce.Do(func() { close(b.gone) })
	if b.release != nil {
		b.release()
	}
}

// put hands a chunk to the consumer, waiting while chunkQueue chunks are
// waiting; it reports false, dropping the chunk, once the consumer
// discarded the body.
func (b *Body) put(c []byte) bool {
	select {
	case b.ch <- c:
		return true
	case <-b.gone:
		return false
	case <-b.failed:
		return false
	}
}

// end says the last chunk was put.
func (b *Body) end() { close(b.ch) }

// fail ends the body with an error wrapping ErrBodyAborted.
func (b *Body) fail(err error) {
	if b.mfd != nil {
		b.mfd.fail(err)
		return
	}
	b.fonce.Do(func() {
		if !errors.Is(err, ErrBodyAborted) {
			err = fmt.Errorf("%w: %w", ErrBodyAborted, err)
		}
		b.err = err
		close(b.failed)
	})
}

// Tee returns n bodies that each deliver b's chunks (the same slices, not
// copies); one goroutine reads b and puts each chunk into every branch
// that was not discarded, so the slowest branch sets the pace and b's
// producer waits for it. b is discarded once every branch is.
func (b *Body) Tee(n int) []*Body {
	if b.mfd != nil {
		return b.teeFD(n)
	}
	outs := make([]*Body, n)
	for i := range outs {
		outs[i] = newPushed(b.size)
	}
	go func() {
		for {
			c, err := b.Next()
			if err == io.EOF {
				for _, o := range outs {
					o.end()
				}
				return
			}
			if err != nil {
				for _, o := range outs {
					o.fail(err)
				}
				return
			}
			live := 0
			for _, o := range outs {
				if o.put(c) {
					live++
				}
			}
			if live == 0 {
				b.Discard()
				return
			}
		}
	}()
	return outs
}

// JoinBodies returns the body that is the concatenation of bs, read one
// after the other.
func JoinBodies(bs ...*Body) *Body {
	var n int64
	for _, b := range bs {
		n += b.size
	}
	j := &Body{size: n, gone: make(chan struct{})}
	i := 0
	j.pull = func() ([]byte, error) {
		for i < len(bs) {
			c, err := bs[i].Next()
			if err == io.EOF {
				i++
				continue
			}
			return c, err
		}
		return nil, io.EOF
	}
	j.release = func() {
		for _, b := range bs[i:] {
			b.Discard()
		}
	}
	return j
}

// BodyWriter produces the chunks of a body made by NewBodyPipe.
type BodyWriter struct{ b *Body }

// NewBodyPipe returns a body of size bytes whose chunks (of at most
// ChunkSize bytes each) a producer writes with the returned BodyWriter,
// from another goroutine than the body's consumer.
func NewBodyPipe(size int64) (*Body, *BodyWriter) {
	b := newPushed(size)
	return b, &BodyWriter{b}
}

// Write hands a chunk to the consumer, waiting while chunks are queued;
// it reports false once the consumer discarded the body.
func (w *BodyWriter) Write(chunk []byte) bool { return w.b.put(chunk) }

// Close says the last chunk was written.
func (w *BodyWriter) Close() { w.b.end() }

// Fail ends the body early with err.
func (w *BodyWriter) Fail(err error) { w.b.fail(err) }
