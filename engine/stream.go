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
	err  error
}

func collectBody(body *quic.Body) *pendingBody {
	p := &pendingBody{body: body, done: make(chan struct{})}
	go func() {
		p.b, p.err = body.Bytes()
		close(p.done)
	}()
	return p
}

// wait returns the whole body once it arrived.
func (p *pendingBody) wait(ctx context.Context) ([]byte, error) {
	select {
	case <-p.done:
		return p.b, p.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
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
	p := collectBody(stream)
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
