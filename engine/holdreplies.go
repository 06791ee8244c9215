package engine

import "time"

// Results of short tasks that run back to back are written together:
// while the next task in the queue is a prefetched one (the controller
// prefetches only while this engine's tasks run shorter than a round
// trip), the worker holds its connection (quic.Conn.Hold) and lets
// results collect: at most maxHeldReplies results or maxHoldReplies,
// until no prefetched task is next, or until the running task turns out
// long (its Started notice, at most StartedDelay after it started). One
// write then carries them all, instead of one write (and one wake-up of
// the controller) per result.

const (
	maxHeldReplies = 16
	maxHoldReplies = 500 * time.Microsecond
)

// holder is a connection whose writes can be held back (quic.Conn).
type holder interface {
	Hold()
	Release()
}

// holdNext reports whether the next task lets results wait for it: a
// prefetched one whose body is there (the worker will not wait for it).
// e.mu is held.
func (e *Engine) holdNext() bool {
	if len(e.queue) == 0 {
		return false
	}
	q := &e.queue[0]
	return q.req.Prefetched && q.pending == nil && q.req.SharedBody == ""
}

// holdForReply holds the connection before a result is written when the
// next task lets it wait (holdNext).
func (e *Engine) holdForReply() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.holdNext() {
		return
	}
	if e.heldConn == nil {
		h, ok := e.conn.(holder)
		if !ok {
			return
		}
		h.Hold()
		e.heldConn, e.heldSince = h, time.Now()
	}
	e.heldN++
}

// releaseAfterReply sends the held results unless the next task lets
// them wait and the hold is still young and small.
func (e *Engine) releaseAfterReply() {
	e.mu.Lock()
	if e.heldConn != nil && e.holdNext() && e.heldN < maxHeldReplies && time.Since(e.heldSince) < maxHoldReplies {
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	e.releaseHeld()
}

// releaseHeld sends the held results now.
func (e *Engine) releaseHeld() {
	e.mu.Lock()
	h := e.heldConn
	e.heldConn, e.heldN = nil, 0
	e.mu.Unlock()
	if h != nil {
		h.Release()
	}
}
