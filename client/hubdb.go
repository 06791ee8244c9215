package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pxsh/pxsh/protocol"
)

// HubResults returns tasks for any msg ids of the cluster, this client's or
// another's, finished or not: unfinished ones complete when their result
// arrives. An id the hub does not know gives a task that failed with
// KeyError.
func (c *Client) HubResults(ctx context.Context, ids []string) ([]*Task, error) {
	tasks := make([]*Task, len(ids))
	var created []*Task // tasks that were not pending already
	c.mu.Lock()
	for i, id := range ids {
		t := c.pending[id]
		if t == nil {
			t = &Task{MsgID: id, Engine: -1, done: make(chan struct{})}
			c.pending[id] = t
			created = append(created, t)
		}
		tasks[i] = t
	}
	c.mu.Unlock()
	var recs []protocol.ResultRecord
	err := c.Control(ctx, "get_result", &protocol.GetResultArgs{MsgIDs: ids}, &recs)
	if err != nil {
		c.mu.Lock()
		for _, t := range created {
			if !t.Ready() && c.pending[t.MsgID] == t {
				delete(c.pending, t.MsgID)
			}
		}
		c.mu.Unlock()
		return nil, err
	}
	c.settleRecords(recs, func(id string) *protocol.RemoteError {
		return &protocol.RemoteError{Name: "KeyError", Message: fmt.Sprintf("no task %q in the hub's database", id), Engine: -1}
	})
	return tasks, nil
}

// settleRecords finishes the pending tasks that a get_result reply
// reports done, or unknown to the hub (failed with unknown).
func (c *Client) settleRecords(recs []protocol.ResultRecord, unknown func(msgID string) *protocol.RemoteError) {
	for _, r := range recs {
		if r.Found && !r.Done {
			continue
		}
		c.mu.Lock()
		t := c.pending[r.MsgID]
		delete(c.pending, r.MsgID)
		c.mu.Unlock()
		if t == nil {
			continue // finished meanwhile
		}
		if !r.Found {
			t.finish(protocol.Result{MsgID: r.MsgID, Engine: -1, Status: protocol.StatusError, Error: unknown(r.MsgID)}, nil)
			continue
		}
		t.Engine, t.Kind, t.Label = r.Result.Engine, r.Result.Kind, r.Result.Label
		if r.Result.Submitted != 0 {
			t.Submitted = time.Unix(0, r.Result.Submitted)
		}
		t.finishAt(r.Result, r.Body, hubReceived(r.Result))
	}
}

// ResultStatus says which of ids are pending, completed or unknown to the
// hub.
type ResultStatus = protocol.ResultStatus

// ResultStatus asks the hub about tasks.
func (c *Client) ResultStatus(ctx context.Context, ids []string) (*ResultStatus, error) {
	var st ResultStatus
	if err := c.Control(ctx, "result_status", ids, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// HubHistory returns every msg id the hub has recorded, in submission
// order.
func (c *Client) HubHistory(ctx context.Context) ([]string, error) {
	var ids []string
	for off := 0; ; {
		var page protocol.HistoryPage
		if err := c.Control(ctx, "hub_history", &protocol.PageArgs{Offset: off, Limit: hubPage}, &page); err != nil {
			return nil, err
		}
		ids = append(ids, page.IDs...)
		if page.Done || page.Next <= off {
			return ids, nil
		}
		off = page.Next
	}
}

// hubPage is how many elements the client asks for per page of a long
// answer (tests lower it).
var hubPage = protocol.MaxPageElements

// DBQuery runs a Mongo-style query on the hub's task records: a map from
// field to value (equality) or to operators ($lt $lte $gt $gte $eq $ne $in
// $nin). Times are unix seconds. keys selects fields; msg_id is always
// returned.
func (c *Client) DBQuery(ctx context.Context, query map[string]any, keys []string) ([]map[string]any, error) {
	var rows []map[string]any
	for off := 0; ; {
		var page protocol.QueryPage
		a := protocol.QueryArgs{Query: query, Keys: keys, Offset: off, Limit: hubPage}
		if err := c.Control(ctx, "db_query", &a, &page); err != nil {
			return nil, err
		}
		rows = append(rows, page.Rows...)
		if page.Done || page.Next <= off {
			return rows, nil
		}
		off = page.Next
	}
}

// ErrPending is wrapped by PurgeResults's error for a task not finished
// yet (ipyparallel's IndexError "msg pending").
var ErrPending = errors.New("IndexError: msg pending")

// PurgeResults removes finished records from the hub's database; no ids
// means every finished one. Naming a pending task fails with ErrPending
// and purges nothing.
func (c *Client) PurgeResults(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return c.Control(ctx, "purge_results", nil, nil)
	}
	st, err := c.ResultStatus(ctx, ids)
	if err != nil {
		return fmt.Errorf("purge_results: %w", err)
	}
	if len(st.Pending) > 0 {
		return fmt.Errorf("purge_results: %w: %q", ErrPending, st.Pending[0])
	}
	for len(ids) > 0 {
		n := min(len(ids), hubPage)
		if err := c.Control(ctx, "purge_results", ids[:n], nil); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// Resubmit runs tasks again, each under a new msg id, and returns the new
// tasks.
func (c *Client) Resubmit(ctx context.Context, ids []string) ([]*Task, error) {
	tasks := make([]*Task, len(ids))
	newIDs := make([]string, len(ids))
	c.mu.Lock()
	for i := range ids {
		newIDs[i] = c.NewMsgID()
		tasks[i] = &Task{MsgID: newIDs[i], Engine: -1, Submitted: time.Now(), done: make(chan struct{})}
		c.pending[newIDs[i]] = tasks[i]
	}
	c.mu.Unlock()
	err := c.Control(ctx, "resubmit", &protocol.ResubmitArgs{MsgIDs: ids, NewIDs: newIDs}, nil)
	if err != nil {
		c.mu.Lock()
		for _, id := range newIDs {
			delete(c.pending, id)
		}
		c.mu.Unlock()
		return nil, err
	}
	return tasks, nil
}
