package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// link is an engine's way to the controller: its own connection, or its
// slot on its process's shared one (Process).
type link interface {
	ReadFrame() ([]byte, error)
	ReadStream() (head []byte, body *quic.Body, err error)
	WriteFrame(parts ...[]byte) error
	WriteStream(head []byte, body *quic.Body) error
	WriteUrgent(parts ...[]byte) error
	PacketsReceived() uint64
	Close(code uint64, reason string) error
}

// Process carries the engines of one process (pxsh engine --count N) on
// one connection to the controller. Each engine keeps its own slot
// (Config.Slot), id, namespace, queue and registration; every frame on
// the connection names its engine's slot (protocol.MuxHeader). The
// controller watches the connection, not each engine: the process is
// alive or not. The connection is dialed when the first engine joins,
// again after it is lost, and closed when no engine uses it.
type Process struct {
	conn     *profile.Connection
	key      []byte
	maxFrame int
	maxValue int64

	mu   sync.Mutex
	cur  *procConn
	dial *dialing // in progress, or nil

	// The engines' pause and silence checks (Engine.watchGaps), run by
	// one ticker for the process.
	wmu      sync.Mutex
	watched  map[*Engine]bool
	watching bool
}

type dialing struct {
	done chan struct{}
	err  error
}

// NewProcess returns the shared connection state of the engines of this
// process; conn is the controller to join, maxFrame the engines' frame
// limit (0: quic.DefaultMaxFrame) and maxValue their streamed values'
// (0: quic.DefaultMaxValue).
func NewProcess(conn *profile.Connection, maxFrame int, maxValue int64) (*Process, error) {
	key, err := conn.KeyBytes()
	if err != nil {
		return nil, fmt.Errorf("engine process: %w", err)
	}
	if maxFrame <= 0 {
		maxFrame = quic.DefaultMaxFrame
	}
	if maxValue <= 0 {
		maxValue = quic.DefaultMaxValue
	}
	return &Process{conn: conn, key: key, maxFrame: maxFrame, maxValue: maxValue}, nil
}

// attach returns slot's link on the shared connection, dialing it if
// there is none (one dial at a time: engines joining together share it).
func (p *Process) attach(ctx context.Context, slot int) (*slotLink, error) {
	for {
		p.mu.Lock()
		if pc := p.cur; pc != nil {
			p.mu.Unlock()
			if l := pc.open(slot); l != nil {
				return l, nil
			}
			p.mu.Lock()
			if p.cur == pc {
				p.cur = nil
			}
			p.mu.Unlock()
			continue
		}
		if d := p.dial; d != nil {
			p.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if d.err != nil {
				return nil, d.err
			}
			continue
		}
		d := &dialing{done: make(chan struct{})}
		p.dial = d
		p.mu.Unlock()
		c, err := dialController(ctx, p.conn, p.key, p.maxFrame, p.maxValue)
		p.mu.Lock()
		if err == nil {
			p.cur = &procConn{c: c, slots: map[int]*slotLink{}}
			go p.cur.read()
		}
		d.err, p.dial = err, nil
		close(d.done)
		p.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// watch runs e's liveness checks with those of the other engines of
// the process, on one ticker, until ctx ends.
func (p *Process) watch(ctx context.Context, e *Engine) {
	period := e.tickPeriod()
	p.wmu.Lock()
	if p.watched == nil {
		p.watched = map[*Engine]bool{}
	}
	p.watched[e] = true
	start := !p.watching
	p.watching = true
	p.wmu.Unlock()
	if start {
		go p.ticker(period)
	}
	<-ctx.Done()
	p.wmu.Lock()
	delete(p.watched, e)
	p.wmu.Unlock()
}

// ticker ticks the watched engines; it stops when none is left.
func (p *Process) ticker(period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	var engines []*Engine
	for range t.C {
		p.wmu.Lock()
		if len(p.watched) == 0 {
			p.watching = false
			p.wmu.Unlock()
			return
		}
		engines = engines[:0]
		for e := range p.watched {
			engines = append(engines, e)
		}
		p.wmu.Unlock()
		for _, e := range engines {
			e.tick()
		}
	}
}

// dialController dials the controller's addresses in turn.
func dialController(ctx context.Context, conn *profile.Connection, key []byte, maxFrame int, maxValue int64) (*quic.Conn, error) {
	err := errors.New("no controller address")
	for _, addr := range conn.Addresses {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var c *quic.Conn
		c, err = quic.Dial(dctx, addr, conn.Fingerprint, quic.Config{Key: key, IdleTimeout: idleTimeout, MaxFrame: maxFrame, MaxValue: maxValue})
		cancel()
		if err == nil {
			return c, nil
		}
	}
	return nil, err
}

// procConn is one shared connection and the slots attached to it.
type procConn struct {
	c     *quic.Conn
	mu    sync.Mutex
	slots map[int]*slotLink
	dead  error // set when the connection failed
}

// open attaches slot, replacing a link it had; nil if the connection
// failed.
func (pc *procConn) open(slot int) *slotLink {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dead != nil {
		return nil
	}
	if old := pc.slots[slot]; old != nil {
		old.fail(errors.New("engine slot reattached"))
	}
	l := &slotLink{pc: pc, slot: slot, pre: protocol.MuxHeader(slot)}
	l.cond.L = &l.mu
	pc.slots[slot] = l
	return l
}

// read hands each frame, or streamed frame's head and body, to its
// slot's link until the connection fails, which fails every link. A
// streamed frame's head carries the slot; its body's chunks go on to the
// body as they arrive, so a large value for one engine holds back no
// other engine's frames.
func (pc *procConn) read() {
	for {
		p, body, err := pc.c.ReadStream()
		var slot int
		var payload []byte
		if err == nil {
			if slot, payload, err = protocol.SplitMux(p); err != nil {
				pc.c.Close(uint64(protocol.CodeBadFrame), err.Error())
			}
		}
		pc.mu.Lock()
		if err != nil {
			if body != nil {
				body.Discard()
			}
			pc.dead = err
			links := pc.slots
			pc.slots = nil
			pc.mu.Unlock()
			for _, l := range links {
				l.fail(err)
			}
			return
		}
		l := pc.slots[slot]
		pc.mu.Unlock()
		if l == nil || !l.push(inFrame{payload, body}) {
			if body != nil {
				body.Discard() // an engine that left: nobody reads it
			}
		}
	}
}

// detach removes l; the connection closes when no slot is left.
func (pc *procConn) detach(l *slotLink, code uint64, reason string) {
	pc.mu.Lock()
	if pc.slots[l.slot] == l {
		delete(pc.slots, l.slot)
	}
	last := len(pc.slots) == 0 && pc.dead == nil
	if last {
		pc.dead = errLinkClosed // attach dials anew
	}
	pc.mu.Unlock()
	if last {
		pc.c.Flush(100 * time.Millisecond) // the engines' goodbyes
		pc.c.Close(code, reason)
	}
}

// slotLink is one engine's view of its process's connection. Frames for
// it wait in an unbounded queue, read by the engine's reader goroutine
// (which never blocks for long: it queues tasks and answers pings).
type slotLink struct {
	pc   *procConn
	slot int
	pre  []byte

	mu     sync.Mutex
	cond   sync.Cond
	in     []inFrame
	err    error
	closed bool
}

// inFrame is a frame for a slot, or a streamed frame's head and body.
type inFrame struct {
	p    []byte
	body *quic.Body
}

// push queues f for the engine; false if the link failed (f's body is
// then the caller's to discard).
func (l *slotLink) push(f inFrame) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return false
	}
	l.in = append(l.in, f)
	l.cond.Signal()
	return true
}

// fail ends the link with err once the engine has read the frames
// queued before it.
func (l *slotLink) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
		l.cond.Broadcast()
	}
	l.mu.Unlock()
}

func discardBodies(fs []inFrame) {
	for _, f := range fs {
		if f.body != nil {
			f.body.Discard()
		}
	}
}

// ReadStream returns the next frame for this engine; for a streamed
// frame, its head and its body (which the caller consumes or discards).
func (l *slotLink) ReadStream() ([]byte, *quic.Body, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.in) == 0 && l.err == nil {
		l.cond.Wait()
	}
	if len(l.in) == 0 {
		return nil, nil, l.err
	}
	f := l.in[0]
	l.in[0] = inFrame{}
	l.in = l.in[1:]
	return f.p, f.body, nil
}

// ReadFrame returns the next frame for this engine, a streamed one
// assembled (the shared connection's reader goes on meanwhile).
func (l *slotLink) ReadFrame() ([]byte, error) {
	p, body, err := l.ReadStream()
	if err != nil || body == nil {
		return p, err
	}
	b, err := body.Bytes()
	if err != nil {
		return nil, fmt.Errorf("read frame: engine slot %d: %w", l.slot, err)
	}
	return append(p[:len(p):len(p)], b...), nil
}

func (l *slotLink) check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("write frame: engine slot %d: %w", l.slot, errLinkClosed)
	}
	return nil
}

var errLinkClosed = errors.New("link closed")

// WriteFrame sends a frame from this engine.
func (l *slotLink) WriteFrame(parts ...[]byte) error {
	if err := l.check(); err != nil {
		return err
	}
	return l.pc.c.WriteFrame(append([][]byte{l.pre}, parts...)...)
}

// WriteStream sends a streamed frame from this engine: its head, which
// names the slot, in order with the engine's other frames, and body in
// chunks (quic.Conn.WriteStream).
func (l *slotLink) WriteStream(head []byte, body *quic.Body) error {
	if err := l.check(); err != nil {
		body.Discard()
		return err
	}
	return l.pc.c.WriteStream(append(l.pre[:len(l.pre):len(l.pre)], head...), body)
}

// LocalMemfds reports whether large bodies go to the controller as
// memfds (quic.Conn.LocalMemfds).
func (l *slotLink) LocalMemfds() bool { return l.pc.c.LocalMemfds() }

// WriteUrgent sends a frame from this engine past the queue bound.
func (l *slotLink) WriteUrgent(parts ...[]byte) error {
	if err := l.check(); err != nil {
		return err
	}
	return l.pc.c.WriteUrgent(append([][]byte{l.pre}, parts...)...)
}

// PacketsReceived counts the shared connection's packets: any packet
// from the controller is news of it.
func (l *slotLink) PacketsReceived() uint64 { return l.pc.c.PacketsReceived() }

// Close detaches the engine, discarding the streamed bodies queued for
// it, which it will not read. With CodeOK (the engine exits) it first
// tells the controller, which then lets the engine go at once (an
// engine's own connection says so by closing).
func (l *slotLink) Close(code uint64, reason string) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	var drop []inFrame
	if l.err == nil {
		l.err = fmt.Errorf("engine slot %d: %w", l.slot, errLinkClosed)
		drop = l.in
		l.in = nil
		l.cond.Broadcast()
	}
	l.mu.Unlock()
	discardBodies(drop)
	if code == uint64(protocol.CodeOK) {
		if bye, err := protocol.Marshal(protocol.TShutdown, &protocol.Shutdown{Reason: reason}, nil); err == nil {
			l.pc.c.WriteFrame(l.pre, bye)
		}
	}
	l.pc.detach(l, code, reason)
	return nil
}
