package client

import (
	"context"
	"fmt"
	"time"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// redial reconnects to a controller that went away, as the same client,
// and asks it for the results of every pending task. It reports whether
// it succeeded within Options.Reconnect.
func (c *Client) redial() bool {
	ctx, cancel := context.WithTimeout(context.Background(), c.reconnect)
	defer cancel()
	go func() {
		select {
		case <-c.quit: // Close stops reconnecting at once
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		if c.redialOnce(ctx) {
			return true
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
	return false
}

// redialOnce tries every address once and says hello on the first
// connection that answers.
func (c *Client) redialOnce(ctx context.Context) bool {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	qc, addr, err := dialAny(dctx, c.info.Addresses, c.info.Fingerprint, c.qcfg)
	if err != nil {
		return false
	}
	if err := c.hello(qc); err != nil {
		qc.Close(uint64(protocol.CodeBadFrame), err.Error())
		return false
	}
	c.mu.Lock()
	closing := c.closing
	if !closing {
		c.conn = qc
		close(c.swapped)
		c.swapped = make(chan struct{})
	}
	c.mu.Unlock()
	if closing {
		qc.Close(uint64(protocol.CodeOK), "client closed")
		return false
	}
	c.log.Info("reconnected to the controller", "addr", addr)
	go c.resync(qc)
	return true
}

// resync asks the controller, reached again on qc, for the results of
// the tasks pending from before: finished ones come back at once, running
// ones when they finish, and ones it does not know (sent as it went down)
// fail with TaskLost. Tasks sent on qc itself are not asked about: the
// query may overtake their requests. A failed query is tried again (on
// the next connection too) until Options.Reconnect passes; tasks still
// unanswered then fail with ConnectionError, so no task waits for ever.
func (c *Client) resync(qc *quic.Conn) {
	c.mu.Lock()
	ids := make([]string, 0, len(c.pending))
	for id, t := range c.pending {
		if t.sentOn != qc {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	deadline := time.Now().Add(max(c.reconnect, 10*time.Second))
	wait := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var recs []protocol.ResultRecord
		err := c.Control(ctx, "get_result", &protocol.GetResultArgs{MsgIDs: ids}, &recs)
		cancel()
		if err == nil {
			c.settleRecords(recs, func(id string) *protocol.RemoteError {
				return &protocol.RemoteError{Name: "TaskLost", Engine: -1, Message: fmt.Sprintf(
					"the controller restarted before it recorded task '%s' (sent as it went down); submit it again", id)}
			})
			return
		}
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return // shutdown failed every pending task
		}
		if time.Now().After(deadline) {
			c.log.Warn("resync after reconnecting failed", "err", err)
			c.failPending(ids, fmt.Sprintf("reconnected, but could not ask the controller for the result: %v", err))
			return
		}
		time.Sleep(wait)
		wait = min(2*wait, 2*time.Second)
	}
}

// failPending fails those of ids still pending with ConnectionError.
func (c *Client) failPending(ids []string, msg string) {
	now := time.Now().UnixNano()
	for _, id := range ids {
		c.mu.Lock()
		t := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if t != nil {
			t.finish(protocol.Result{MsgID: id, Engine: t.Engine, Status: protocol.StatusError, Completed: now,
				Error: &protocol.RemoteError{Name: "ConnectionError", Message: msg, Engine: t.Engine, Method: string(t.Kind)}}, nil)
		}
	}
}
