package client

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"

	"github.com/fxamacker/cbor/v2"
	"github.com/pxsh/pxsh/protocol"
)

// EngineQueue is one engine's entry of QueueStatus.
type EngineQueue struct {
	// Queue counts the tasks the engine holds (queued or running).
	Queue int
	// Completed counts the tasks it finished.
	Completed int
	// Tasks counts its load-balanced tasks among Queue.
	Tasks int
	// QueueIDs lists this client's unfinished tasks on the engine
	// (filled by QueueStatus with verbose).
	QueueIDs []string
}

// QueueStatus is the controller's view of the engines' queues.
type QueueStatus struct {
	Engines map[int]EngineQueue
	// Unassigned counts load-balanced tasks that wait for an engine.
	Unassigned int
}

// QueueStatus asks the controller for each engine's queue; with verbose,
// each entry also lists this client's unfinished tasks on that engine.
func (c *Client) QueueStatus(ctx context.Context, verbose bool) (*QueueStatus, error) {
	var raw map[string]cbor.RawMessage
	if err := c.Control(ctx, "queue_status", nil, &raw); err != nil {
		return nil, err
	}
	st := &QueueStatus{Engines: map[int]EngineQueue{}}
	for k, v := range raw {
		if k == "unassigned" {
			if err := decMode.Unmarshal(v, &st.Unassigned); err != nil {
				return nil, fmt.Errorf("queue_status: unassigned: %w", err)
			}
			continue
		}
		id, err := strconv.Atoi(k)
		if err != nil {
			continue
		}
		var e struct {
			Queue     int `cbor:"queue"`
			Completed int `cbor:"completed"`
			Tasks     int `cbor:"tasks"`
		}
		if err := decMode.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("queue_status: engine %d: %w", id, err)
		}
		st.Engines[id] = EngineQueue{Queue: e.Queue, Completed: e.Completed, Tasks: e.Tasks}
	}
	if verbose {
		c.mu.Lock()
		for id, t := range c.pending {
			e, ok := st.Engines[t.Engine]
			if !ok {
				continue
			}
			e.QueueIDs = append(e.QueueIDs, id)
			st.Engines[t.Engine] = e
		}
		c.mu.Unlock()
		for id, e := range st.Engines {
			slices.Sort(e.QueueIDs)
			st.Engines[id] = e
		}
	}
	return st, nil
}

// Shutdown asks engines (nil: all) to exit, and the controller too when
// hub is set.
func (c *Client) Shutdown(ctx context.Context, targets []int, hub bool) error {
	args := struct {
		Targets []int `cbor:"targets"`
		Hub     bool  `cbor:"hub"`
	}{targets, hub}
	err := c.Control(ctx, "shutdown", &args, nil)
	if err == nil && hub {
		// The controller is going away for good: do not try to reconnect.
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
	}
	return err
}

// WaitForExit waits until none of the engines ids (every engine when ids
// is nil) is registered: after Shutdown, say.
func (c *Client) WaitForExit(ctx context.Context, ids []int) error {
	for {
		ch := c.Changed()
		left := c.Ids()
		if ids != nil {
			left = slices.DeleteFunc(left, func(id int) bool { return !slices.Contains(ids, id) })
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for engines %v to exit: %w", left, ctx.Err())
		case <-c.done:
			return c.err()
		case <-ch:
		}
	}
}

// EngineUUID returns a UUID naming one registration of an engine (its
// cluster, id, host and process), for ipyparallel's engine uuids: an
// engine restarted under the same id gets a new one.
func (c *Client) EngineUUID(e protocol.EngineInfo) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s\x00%d", c.ClusterID(), e.ID, e.Host, e.PID))
	h[6] = h[6]&0x0f | 0x50 // version 5 layout
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Engine returns the registered engine id, if it is registered.
func (c *Client) Engine(id int) (protocol.EngineInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.engines[id]
	return e, ok
}
