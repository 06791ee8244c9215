package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// QueueStatus is the answer to the "queue_status" op for one engine.
type QueueStatus struct {
	Queue     int `cbor:"queue"`
	Completed int `cbor:"completed"`
	Tasks     int `cbor:"tasks"`
}

// ShutdownArgs are the "shutdown" op's arguments.
type ShutdownArgs struct {
	Targets []int `cbor:"targets"` // nil: all engines
	Hub     bool  `cbor:"hub"`
}

// control answers a client's query.
func (h *Hub) control(cl *client, m *protocol.Control, body []byte) {
	if waits := h.recordingOf(m.Op, body); len(waits) > 0 {
		// A get_result of results still being recorded answers once they
		// are, beside the client's reader.
		body = bytes.Clone(body)
		go func() {
			for _, ch := range waits {
				<-ch
			}
			h.control(cl, m, body)
		}()
		return
	}
	if settled := h.unsettled(m.Op, body); settled != nil {
		// Answered once the restore settles, beside the client's reader.
		body = bytes.Clone(body)
		go func() {
			select {
			case <-settled:
				h.control(cl, m, body)
			case <-cl.conn.Done():
			}
		}()
		return
	}
	reply, err := h.op(cl, m.Op, body)
	rep := protocol.ControlReply{ID: m.ID}
	if sr, ok := reply.(*streamedReply); ok && err == nil {
		if err = h.sendStreamed(cl, &rep, sr); err == nil {
			return
		}
		reply = nil
	}
	var out []byte
	if err == nil {
		out, err = protocol.MarshalValue(reply)
	}
	if err == nil {
		err = h.replyFits(&rep, out)
	}
	if err != nil {
		rep.Error = err.Error()
		out = nil
	}
	if err := send(cl.conn, protocol.TControlReply, &rep, out); errors.Is(err, quic.ErrFrameTooLarge) {
		// Too large to send: say so rather than leave the client waiting.
		rep.Error = fmt.Sprintf("%s: answer of %d bytes over the frame limit: %v", m.Op, len(out), err)
		send(cl.conn, protocol.TControlReply, &rep, nil)
	}
}

// replyFits checks that a control reply fits in one frame: a reply too
// large (get_result or db_query over large results) becomes an error
// naming its size and the limit instead of a frame that cannot be sent.
func (h *Hub) replyFits(rep *protocol.ControlReply, body []byte) error {
	p, err := protocol.Marshal(protocol.TControlReply, rep, nil)
	if err != nil {
		return err
	}
	if n := len(p) + len(body); n > h.cfg.MaxFrame {
		return &protocol.TooLargeError{What: "the reply", Size: int64(n), Limit: int64(h.cfg.MaxFrame)}
	}
	return nil
}

func (h *Hub) op(cl *client, op string, body []byte) (any, error) {
	switch op {
	case "bye":
		return nil, nil
	case "get_result":
		var a protocol.GetResultArgs
		if err := protocol.UnmarshalValue(body, &a); err != nil {
			return nil, fmt.Errorf("get_result: %w", err)
		}
		recs, err := h.getResult(cl, a)
		if err != nil {
			return nil, err
		}
		return h.resultReply(recs)
	case "result_status":
		var ids []string
		if err := protocol.UnmarshalValue(body, &ids); err != nil {
			return nil, fmt.Errorf("result_status: %w", err)
		}
		return h.resultStatus(ids)
	case "hub_history":
		ids, err := h.db.History(context.Background())
		if err != nil || len(body) == 0 {
			return ids, err
		}
		var a protocol.PageArgs
		if err := protocol.UnmarshalValue(body, &a); err != nil {
			return nil, fmt.Errorf("hub_history: %w", err)
		}
		lo, hi, err := pageBounds(a.Offset, a.Limit, len(ids))
		if err != nil {
			return nil, fmt.Errorf("hub_history: %w", err)
		}
		return &protocol.HistoryPage{IDs: ids[lo:hi], Next: hi, Done: hi == len(ids)}, nil
	case "db_query":
		var a protocol.QueryArgs
		if err := protocol.UnmarshalValue(body, &a); err != nil {
			return nil, fmt.Errorf("db_query: %w", err)
		}
		rows, err := h.dbQuery(a)
		if err != nil || a.Limit <= 0 {
			return rows, err
		}
		return queryPage(rows, a.Offset, a.Limit)
	case "purge_results":
		var ids []string
		if len(body) > 0 {
			if err := protocol.UnmarshalValue(body, &ids); err != nil {
				return nil, fmt.Errorf("purge_results: %w", err)
			}
		}
		return nil, h.db.Purge(context.Background(), ids)
	case "resubmit":
		var a protocol.ResubmitArgs
		if err := protocol.UnmarshalValue(body, &a); err != nil {
			return nil, fmt.Errorf("resubmit: %w", err)
		}
		return nil, h.resubmit(cl, a)
	case "queue_status":
		return h.queueStatus(), nil
	case "engines":
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.engineInfos(), nil
	case "shutdown":
		var a ShutdownArgs
		if len(body) > 0 {
			if err := protocol.UnmarshalValue(body, &a); err != nil {
				return nil, fmt.Errorf("shutdown: %w", err)
			}
		}
		h.shutdownEngines(a)
		return nil, nil
	}
	return nil, fmt.Errorf("unknown control op %q", op)
}

// pageBounds checks a page request against n elements.
func pageBounds(offset, limit, n int) (lo, hi int, err error) {
	if offset < 0 || limit <= 0 || limit > protocol.MaxPageElements {
		return 0, 0, fmt.Errorf("page offset %d, limit %d: want offset >= 0 and 0 < limit <= %d", offset, limit, protocol.MaxPageElements)
	}
	lo = min(offset, n)
	return lo, min(lo+limit, n), nil
}

// queryPage cuts one page of rows, ending it early once its rows pass
// protocol.MaxPageBytes.
func queryPage(rows []map[string]any, offset, limit int) (*protocol.QueryPage, error) {
	lo, hi, err := pageBounds(offset, limit, len(rows))
	if err != nil {
		return nil, fmt.Errorf("db_query: %w", err)
	}
	size := 0
	for i := lo; i < hi; i++ {
		size += rowSize(rows[i])
		if size > protocol.MaxPageBytes && i > lo {
			hi = i
			break
		}
	}
	return &protocol.QueryPage{Rows: rows[lo:hi], Next: hi, Done: hi == len(rows)}, nil
}

// rowSize estimates the encoded size of a query row.
func rowSize(row map[string]any) int {
	n := 1
	for k, v := range row {
		n += len(k) + 9
		switch x := v.(type) {
		case string:
			n += len(x)
		case []byte:
			n += len(x)
		case map[string]any:
			n += rowSize(x)
		}
	}
	return n
}

func (h *Hub) queueStatus() map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]any{"unassigned": h.sched.QueueLen()}
	for id, e := range h.engines {
		out[strconv.Itoa(id)] = QueueStatus{Queue: len(e.tasks), Completed: e.completed, Tasks: e.balanced}
	}
	return out
}

func (h *Hub) shutdownEngines(a ShutdownArgs) {
	h.mu.Lock()
	var targets []*engine
	if a.Targets == nil {
		for _, e := range h.engines {
			targets = append(targets, e)
		}
	} else {
		for _, id := range a.Targets {
			if e := h.engines[id]; e != nil {
				targets = append(targets, e)
			}
		}
	}
	h.mu.Unlock()
	links := make([]*link, len(targets))
	for i, e := range targets {
		links[i] = e.conn
		send(e.conn, protocol.TShutdown, &protocol.Shutdown{Reason: "client asked"}, nil)
	}
	if a.Hub {
		go func() {
			// Closing at once would discard the shutdown messages still
			// queued: wait until the engines hang up (they close on
			// reading it), for at most DeadAfter.
			waitGone(links, h.cfg.DeadAfter)
			h.Shutdown()
		}()
	}
}
