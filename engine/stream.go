package engine

import (
	"context"
	"time"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// pendingBody is a request's body that arrives in chunks (a streamed
// value): it is collected as it arrives, beside the reader, and the
// worker waits for it when it reaches the task, so tasks keep their order
// and the reader keeps answering pings and cancels meanwhile.
type pendingBody struct {
	body *quic.Body
	done chan struct{}
	b    []byte
	keep *quic.Mapping // b's memory when the body is mapped, or nil
	err  error
}

// collectBody collects body; a memfd body whose value may hold a large
// array is mapped instead of read when mayMap (its arrays then point
// into the mapping: no copy, no fresh pages).
func collectBody(body *quic.Body, mayMap bool) *pendingBody {
	p := &pendingBody{body: body, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if mayMap && body.Memfd() {
			prefix, err := body.Peek(protocol.PeekArrayBytes)
			if err == nil && protocol.MayHoldArray(prefix) {
				if p.keep, p.err = body.Map(); p.err == nil {
					p.b = p.keep.Bytes()
				}
				return
			}
		}
		p.b, p.err = body.Bytes()
	}()
	return p
}

// wait returns the whole body once it arrived, and the mapping that
// holds it, if any (the body is valid while the mapping is reachable).
func (p *pendingBody) wait(ctx context.Context) ([]byte, *quic.Mapping, error) {
	select {
	case <-p.done:
		return p.b, p.keep, p.err
	case <-ctx.Done():
		return nil, nil, context.Cause(ctx)
	}
}

// discard stops collecting the body of a task that will not run.
func (q queued) discard() {
	if q.pending != nil {
		q.pending.body.Discard()
	}
}

// enqueueStreamed queues a request whose body is streamed; a body shared
// with sibling engines (Request.Share) is left for them once it arrived.
func (e *Engine) enqueueStreamed(r protocol.Request, stream *quic.Body) {
	p := collectBody(stream, r.Share == "") // a shared body is read: its siblings decode it too
	if r.Share != "" {
		go func() {
			<-p.done
			if p.err != nil {
				failShared(r.Share, r.ShareN)
				return
			}
			putShared(r.Share, p.b, r.ShareN)
		}()
	}
	e.enqueueItem(queued{req: r, pending: p, received: time.Now().UnixNano()})
}
