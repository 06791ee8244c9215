package client

import (
	"context"
	"time"

	"github.com/pxsh/pxsh/protocol"
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
	}
	c.mu.Unlock()
	if closing {
		qc.Close(uint64(protocol.CodeOK), "client closed")
		return false
	}
	c.log.Info("reconnected to the controller", "addr", addr)
	go c.resync()
	return true
}

// resync asks the controller for the pending tasks' results: finished
// ones come back at once, running ones when they finish, and ones it does
// not know fail with KeyError.
func (c *Client) resync() {
	c.mu.Lock()
	ids := make([]string, 0, len(c.pending))
	for id := range c.pending {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.HubResults(ctx, ids); err != nil {
		c.log.Warn("resync after reconnecting failed", "err", err)
	}
}
