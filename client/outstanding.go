package client

import "time"

// Outstanding returns the tasks this client submitted at or after since
// whose results have not arrived yet, so that a caller (the shell on
// Ctrl-C) can cancel them.
func (c *Client) Outstanding(since time.Time) []*Task {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Task
	for _, t := range c.pending {
		if !t.Submitted.Before(since) {
			out = append(out, t)
		}
	}
	return out
}
