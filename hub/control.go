package hub

import (
	"context"
	"fmt"
	"strconv"

	"github.com/pxsh/pxsh/protocol"
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
	reply, err := h.op(cl, m.Op, body)
	rep := protocol.ControlReply{ID: m.ID}
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
	send(cl.conn, protocol.TControlReply, &rep, out)
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
		return h.getResult(cl, a)
	case "result_status":
		var ids []string
		if err := protocol.UnmarshalValue(body, &ids); err != nil {
			return nil, fmt.Errorf("result_status: %w", err)
		}
		return h.resultStatus(ids)
	case "hub_history":
		return h.db.History(context.Background())
	case "db_query":
		var a protocol.QueryArgs
		if err := protocol.UnmarshalValue(body, &a); err != nil {
			return nil, fmt.Errorf("db_query: %w", err)
		}
		return h.dbQuery(a)
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
	for _, e := range targets {
		send(e.conn, protocol.TShutdown, &protocol.Shutdown{Reason: "client asked"}, nil)
	}
	if a.Hub {
		go h.Shutdown()
	}
}
