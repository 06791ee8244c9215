package client

import (
	"fmt"
	"time"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// dispatchStream handles a streamed message (a large result or control
// reply): its value is collected beside the reader, which goes on
// reading, and the message is handled once the value arrived.
func (c *Client) dispatchStream(p []byte, body *quic.Body) error {
	t, hb, rest, err := protocol.Split(p)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("streamed %s with a body in its head", t)
	}
	if err != nil {
		body.Discard()
		return err
	}
	switch t {
	case protocol.TResult:
		return handle(hb, func(r protocol.Result) {
			go func() {
				b, keep, err := c.resultBody(body)
				if err != nil {
					r = lostResult(r, body.Size(), err)
				}
				c.onResultKept(r, b, keep)
			}()
		})
	case protocol.TControlReply:
		return handle(hb, func(r protocol.ControlReply) {
			go func() {
				b, err := body.Bytes()
				if err != nil {
					r.Error = fmt.Sprintf("the reply (%s) did not arrive: %v", protocol.FormatSize(body.Size()), err)
				}
				c.onControlReply(r, b)
			}()
		})
	}
	body.Discard()
	return fmt.Errorf("unexpected streamed %s from controller", t)
}

// lostResult is the result of a task whose value did not arrive whole
// (its engine died, or the connection was lost, while it streamed).
func lostResult(r protocol.Result, size int64, err error) protocol.Result {
	r.Status, r.HasValue = protocol.StatusError, false
	if r.Completed == 0 {
		r.Completed = time.Now().UnixNano()
	}
	r.Error = &protocol.RemoteError{Name: "EngineError", Engine: r.Engine, Method: string(r.Kind),
		Message: fmt.Sprintf("the result (%s) did not arrive: %v", protocol.FormatSize(size), err)}
	return r
}

// resultBody collects a streamed result's value: mapped (keep holds the
// memory) when the client maps results (MapResults) and it is a memfd
// whose value may hold a large array, read otherwise.
func (c *Client) resultBody(body *quic.Body) (b []byte, keep *quic.Mapping, err error) {
	if c.mapBodies.Load() && body.Memfd() {
		prefix, err := body.Peek(protocol.PeekArrayBytes)
		if err == nil && protocol.MayHoldArray(prefix) {
			if keep, err = body.Map(); err != nil {
				return nil, nil, err
			}
			return keep.Bytes(), keep, nil
		}
	}
	b, err = body.Bytes()
	return b, nil, err
}
