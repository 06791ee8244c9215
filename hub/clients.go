package hub

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"time"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// client is a connected client. Fields are guarded by Hub.mu.
type client struct {
	id   string
	conn *quic.Conn
}

func (h *Hub) serveClient(ctx context.Context, c *quic.Conn, m *protocol.Hello) {
	if m.Version != protocol.Version {
		err := fmt.Errorf("hello: protocol version %d, want %d", m.Version, protocol.Version)
		send(c, protocol.TWelcome, &protocol.Welcome{Error: err.Error()}, nil)
		h.refuse(c, protocol.CodeVersion, err)
		return
	}
	c.SetSlowConsumer(h.cfg.ClientQueue)
	h.mu.Lock()
	id := m.ClientID
	if id == "" {
		b := make([]byte, 4)
		rand.Read(b)
		id = fmt.Sprintf("%s-%x", h.clusterID, b)
	}
	if old := h.clients[id]; old != nil {
		old.conn.Close(uint64(protocol.CodeReplaced), "client reconnected")
	}
	cl := &client{id: id, conn: c}
	h.clients[id] = cl
	if m.ClientID != "" {
		h.delivered(id, m.Pending)
	}
	w := protocol.Welcome{ClientID: id, ClusterID: h.clusterID, Engines: h.engineInfos(), MaxFrame: h.cfg.MaxFrame}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		if h.clients[id] == cl {
			delete(h.clients, id)
		}
		h.mu.Unlock()
	}()
	if err := send(c, protocol.TWelcome, &w, nil); err != nil {
		return
	}
	for {
		p, err := c.ReadFrame()
		if err != nil {
			if quic.IsSlowConsumer(err) {
				h.log.Warn("client disconnected: slow consumer", "client", id, "peer", c.RemoteAddr(),
					"limit", h.cfg.ClientQueue, "err", err)
			}
			return
		}
		if err := h.clientFrame(cl, p); err != nil {
			h.refuse(c, protocol.CodeBadFrame, fmt.Errorf("client %s: %w", id, err))
			return
		}
	}
}

// engineInfos lists live engines by id; h.mu must be held.
func (h *Hub) engineInfos() []protocol.EngineInfo {
	out := make([]protocol.EngineInfo, 0, len(h.engines))
	for _, e := range h.engines {
		out = append(out, e.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (h *Hub) clientFrame(cl *client, p []byte) error {
	t, hb, body, err := protocol.Split(p)
	if err != nil {
		return err
	}
	switch t {
	case protocol.TRequest:
		var r protocol.Request
		if err := protocol.UnmarshalHeader(hb, &r); err != nil {
			return err
		}
		if len(r.Fan) > 0 {
			return h.fanOut(cl, &r, body)
		}
		if r.MsgID == "" {
			return fmt.Errorf("request without msg id")
		}
		h.request(cl, &r, body)
	case protocol.TCancel:
		var m protocol.Cancel
		if err := protocol.UnmarshalHeader(hb, &m); err != nil {
			return err
		}
		h.cancel(cl, &m)
	case protocol.TControl:
		var m protocol.Control
		if err := protocol.UnmarshalHeader(hb, &m); err != nil {
			return err
		}
		h.control(cl, &m, body)
	default:
		return fmt.Errorf("unexpected %s from client", t)
	}
	return nil
}

// request forwards a direct request to its engine.
func (h *Hub) request(cl *client, r *protocol.Request, body []byte) {
	r.Client = cl.id
	if r.Submitted == 0 {
		r.Submitted = time.Now().UnixNano()
	}
	if r.Engine < 0 {
		h.balanced(cl, r, body)
		return
	}
	t := &task{req: *r, client: cl.id, engine: r.Engine, body: body}
	h.mu.Lock()
	e := h.engines[r.Engine]
	if e != nil {
		h.tasks[r.MsgID] = t
		e.tasks[r.MsgID] = t
	}
	h.recordSubmitted(t)
	h.mu.Unlock()
	if e == nil {
		h.fail(t, r.Engine, &protocol.RemoteError{
			Name: "EngineError", Message: fmt.Sprintf("Engine %d is not registered", r.Engine),
			Engine: r.Engine, Method: string(r.Kind),
		})
		return
	}
	if err := send(e.conn, protocol.TRequest, r, body); err != nil {
		h.engineRefused(e, t, err)
	}
}

// fanOut splits a fanned-out request into one direct task per target,
// each forwarded with the same body slice: the body crosses the client's
// link once and is not copied per engine (the engines' writers queue it
// by reference).
func (h *Hub) fanOut(cl *client, r *protocol.Request, body []byte) error {
	fan := r.Fan
	r.Fan = nil
	for _, ft := range fan {
		if ft.MsgID == "" || ft.Engine < 0 {
			return fmt.Errorf("fanned-out request with a bad target (msg id %q, engine %d)", ft.MsgID, ft.Engine)
		}
	}
	for _, ft := range fan {
		one := *r
		one.MsgID, one.Engine = ft.MsgID, ft.Engine
		h.request(cl, &one, body)
	}
	return nil
}

// cancel forwards a cancel to the engines holding the tasks.
func (h *Hub) cancel(cl *client, m *protocol.Cancel) {
	byEngine := map[*engine][]string{}
	var out outbox
	h.mu.Lock()
	for _, id := range m.MsgIDs {
		t := h.tasks[id]
		if t == nil || (t.engine < 0 && h.abortQueued(t, &out)) {
			continue
		}
		if e := h.engines[t.engine]; e != nil {
			byEngine[e] = append(byEngine[e], id)
		}
	}
	h.mu.Unlock()
	out.flush()
	for e, ids := range byEngine {
		send(e.conn, protocol.TCancel, &protocol.Cancel{MsgIDs: ids, Reason: m.Reason}, nil)
	}
}

// broadcast sends a message to every client.
func (h *Hub) broadcast(t protocol.Type, hdr any) {
	p, err := protocol.Marshal(t, hdr, nil)
	if err != nil {
		return
	}
	h.mu.Lock()
	conns := make([]*quic.Conn, 0, len(h.clients))
	for _, c := range h.clients {
		conns = append(conns, c.conn)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.WriteFrame(p)
	}
}
