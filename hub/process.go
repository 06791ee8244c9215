package hub

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// frameWriter is a connection or an engine's link: where a frame goes.
type frameWriter interface {
	WriteFrame(parts ...[]byte) error
}

// link is how the hub reaches one engine: its own connection, or its
// slot on its process's shared connection (pxsh engine --count N; every
// frame there starts with protocol.MuxHeader). Liveness is the
// connection's: the engines of a process are heard from, or declared
// dead, together.
type link struct {
	c    *quic.Conn
	pre  []byte   // the slot's frame prefix; nil on an own connection
	proc *process // nil on an own connection
	slot int
	gone chan struct{} // closed when a slot link is detached
	once sync.Once
}

func ownLink(c *quic.Conn) *link { return &link{c: c} }

// frameRoom is how much of an engine's frame limit n (0: unknown) is
// left for the engine's own frame: on a shared connection the slot's
// prefix takes the rest.
func (l *link) frameRoom(n int) int {
	if n <= len(l.pre) {
		return n
	}
	return n - len(l.pre)
}

// WriteFrame queues a frame for the engine.
func (l *link) WriteFrame(parts ...[]byte) error {
	if l.pre == nil {
		return l.c.WriteFrame(parts...)
	}
	return l.c.WriteFrame(append([][]byte{l.pre}, parts...)...)
}

// WriteStream sends a streamed frame (quic.Conn.WriteStream) to the
// engine: on a shared connection the head carries the slot's prefix, and
// keeps its place among the engine's frames.
func (l *link) WriteStream(head []byte, body *quic.Body) error {
	if l.pre == nil {
		return l.c.WriteStream(head, body)
	}
	return l.c.WriteStream(append(l.pre[:len(l.pre):len(l.pre)], head...), body)
}

// WriteUrgent queues a frame past the queue bound.
func (l *link) WriteUrgent(parts ...[]byte) error {
	if l.pre == nil {
		return l.c.WriteUrgent(parts...)
	}
	return l.c.WriteUrgent(append([][]byte{l.pre}, parts...)...)
}

// Close closes an own connection; a slot link is detached, and the shared
// connection closed once no engine of the process is attached.
func (l *link) Close(code uint64, reason string) error {
	if l.proc == nil {
		return l.c.Close(code, reason)
	}
	l.once.Do(func() {
		close(l.gone)
		l.proc.detach(l, code, reason)
	})
	return nil
}

// Done is closed when the engine can no longer be reached on l.
func (l *link) Done() <-chan struct{} {
	if l.proc == nil {
		return l.c.Done()
	}
	return l.gone
}

// process is an engine process's shared connection: its slots' links
// and engines.
type process struct {
	c     *quic.Conn
	mu    sync.Mutex
	slots map[int]procSlot
	live  int // links registered (or registering) and not detached
}

type procSlot struct {
	l *link
	e *engine
}

func (p *process) newLink(slot int) *link {
	return &link{c: p.c, pre: protocol.MuxHeader(slot), proc: p, slot: slot, gone: make(chan struct{})}
}

// hold counts a link about to be registered, so that a detach meanwhile
// does not close the connection; release undoes it for a refused one.
func (p *process) hold() {
	p.mu.Lock()
	p.live++
	p.mu.Unlock()
}

func (p *process) release() {
	p.mu.Lock()
	p.live--
	p.mu.Unlock()
}

// bind routes slot's frames to a registered engine.
func (p *process) bind(l *link, e *engine) {
	p.mu.Lock()
	p.slots[l.slot] = procSlot{l, e}
	p.mu.Unlock()
}

func (p *process) detach(l *link, code uint64, reason string) {
	p.mu.Lock()
	if s, ok := p.slots[l.slot]; ok && s.l == l {
		delete(p.slots, l.slot)
	}
	p.live--
	last := p.live == 0
	p.mu.Unlock()
	if last {
		p.c.Close(code, reason)
	}
}

func (p *process) lookup(slot int) procSlot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.slots[slot]
}

// serveProcess serves an engine process's shared connection; first is
// its first frame. Each slot registers (and may register again) like an
// engine on its own connection; a refused registration refuses that
// engine only.
func (h *Hub) serveProcess(ctx context.Context, c *quic.Conn, first []byte) {
	c.SetQueueBound(h.cfg.EngineQueue)
	p := &process{c: c, slots: map[int]procSlot{}}
	defer p.closeLinks()
	var body *quic.Body
	for frame := first; ; {
		if err := h.processFrame(p, frame, body); err != nil {
			h.refuse(c, protocol.CodeBadFrame, err)
			return
		}
		var err error
		if frame, body, err = c.ReadStream(); err != nil {
			h.log.Info("engine process connection lost", "peer", c.RemoteAddr(), "err", err)
			return // the heartbeat decides whether its engines are dead
		}
	}
}

// closeLinks marks every link of a lost connection gone.
func (p *process) closeLinks() {
	p.mu.Lock()
	slots := p.slots
	p.slots = map[int]procSlot{}
	p.mu.Unlock()
	for _, s := range slots {
		s.l.once.Do(func() { close(s.l.gone) })
	}
}

// processFrame handles a frame of a shared connection, or the head of a
// streamed frame (body is then its body, which a slot's engine gets or
// which is discarded).
func (h *Hub) processFrame(p *process, frame []byte, body *quic.Body) error {
	slot, payload, err := protocol.SplitMux(frame)
	var t protocol.Type
	var hb []byte
	if err == nil {
		t, hb, _, err = protocol.Split(payload)
	}
	if err == nil && body != nil && t != protocol.TResult {
		err = fmt.Errorf("unexpected streamed %s from engine process", t)
	}
	if err != nil {
		if body != nil {
			body.Discard()
		}
		return err
	}
	if t == protocol.TRegister {
		var r protocol.Register
		if err := protocol.UnmarshalHeader(hb, &r); err != nil {
			return err
		}
		h.registerSlot(p, slot, &r)
		return nil
	}
	s := p.lookup(slot)
	if s.e == nil {
		if body != nil {
			body.Discard()
		}
		return nil // an engine that left, or was refused: late frames
	}
	if body != nil {
		if err := h.engineStream(s.e, payload, body); err != nil {
			return fmt.Errorf("engine %d: %w", s.e.info.ID, err)
		}
		return nil
	}
	if t == protocol.TShutdown {
		h.engineDied(s.e, "engine exited")
		return nil
	}
	if err := h.engineFrame(s.e, s.l, payload, nil); err != nil {
		return fmt.Errorf("engine %d: %w", s.e.info.ID, err)
	}
	return nil
}

func (h *Hub) registerSlot(p *process, slot int, r *protocol.Register) {
	l := p.newLink(slot)
	p.hold()
	e, out, err := h.register(l, r)
	if err != nil {
		p.release()
		h.log.Warn("engine registration refused", "peer", p.c.RemoteAddr(), "slot", slot, "err", err)
		send(l, protocol.TRegistered, &protocol.Registered{ClusterID: h.clusterID, Error: err.Error(), Busy: isIDInUse(err)}, nil)
		return
	}
	p.bind(l, e)
	out.flush()
	h.log.Info("engine registered", "id", e.info.ID, "host", e.info.Host, "pid", e.info.PID, "slot", slot)
	h.broadcast(protocol.TEngineEvent, &protocol.EngineEvent{Joined: true, Engine: e.info})
}

// pingTargets returns one link per connection among the engines to ping:
// any packet answering it is news of every engine on that connection.
func pingTargets(links []*link) []*link {
	if len(links) < 2 {
		return links
	}
	seen := make(map[*quic.Conn]bool, len(links))
	out := links[:0]
	for _, l := range links {
		if !seen[l.c] {
			seen[l.c] = true
			out = append(out, l)
		}
	}
	return out
}

// waitGone waits until every link is gone, or d passes.
func waitGone(links []*link, d time.Duration) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for _, l := range links {
		select {
		case <-l.Done():
		case <-deadline.C:
			return
		}
	}
}
