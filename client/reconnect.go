package client

import (
	"context"
	"time"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// redial reconnects to a controller that went away, as the same client,
// and asks it for the results of every pending task. It reports whether
// it succeeded within Options.Reconnect.
func (c *Client) redial() bool {
	deadline := time.Now().Add(c.reconnect)
	wait := 100 * time.Millisecond
	for time.Now().Before(deadline) {
		for _, addr := range c.info.Addresses {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			qc, err := quic.Dial(ctx, addr, c.info.Fingerprint, c.qcfg)
			cancel()
			if err != nil {
				continue
			}
			if err := c.hello(qc); err != nil {
				qc.Close(uint64(protocol.CodeBadFrame), err.Error())
				continue
			}
			c.mu.Lock()
			c.conn = qc
			c.mu.Unlock()
			c.log.Info("reconnected to the controller", "addr", addr)
			go c.resync()
			return true
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
	return false
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
