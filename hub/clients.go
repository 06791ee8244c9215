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
	w := protocol.Welcome{ClientID: id, ClusterID: h.clusterID, Engines: h.engineInfos(), MaxFrame: h.cfg.MaxFrame, MaxValue: h.cfg.MaxValue}
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
		p, body, err := c.ReadStream()
		if err == nil && body != nil {
			err = h.clientStream(cl, p, body)
			if err != nil {
				h.refuse(c, protocol.CodeBadFrame, fmt.Errorf("client %s: %w", id, err))
				return
			}
			continue
		}
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
	h.awake.Poke()
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
	h.requestShared(cl, r, body, share{})
}

// share says how a fanned-out request travels to an engine that shares
// its process with other targets: the carrier gets the body named key
// (for n others), the others only the name.
type share struct {
	key     string
	carrier bool
	n       int
	from    string // the carrier's msg id
}

// requestShared forwards a direct request; the task keeps the whole body
// (for the database and resending), the wire carries what sh says.
func (h *Hub) requestShared(cl *client, r *protocol.Request, body []byte, sh share) {
	r.Client = cl.id
	if r.Submitted == 0 {
		r.Submitted = time.Now().UnixNano()
	}
	if r.Engine < 0 {
		h.balanced(cl, r, body)
		return
	}
	t := &task{req: *r, client: cl.id, engine: r.Engine, body: body}
	if sh.key != "" && !sh.carrier {
		t.req.BodyOf = sh.from // recorded once, with the carrier's task
	}
	wire, wbody := r, body
	if sh.key != "" {
		w := *r
		if sh.carrier {
			w.Share, w.ShareN = sh.key, sh.n
		} else {
			w.SharedBody, wbody = sh.key, nil
		}
		wire = &w
	}
	hdr, herr := protocol.Marshal(protocol.TRequest, wire, nil)
	var recHdr []byte // the recorded header: the wire's, unless it differs
	if herr == nil && wire == r && t.req.BodyOf == "" {
		_, recHdr, _, _ = protocol.Split(hdr)
	}
	var tooLarge error
	h.mu.Lock()
	e := h.engines[r.Engine]
	if e != nil {
		h.tasks[r.MsgID] = t
		e.tasks[r.MsgID] = t
		tooLarge = e.fits("the "+string(r.Kind)+" request", len(hdr)+len(body)) // a shared body too: the engine decodes it whole
	}
	if recHdr != nil {
		h.recordSubmittedHeader(t, recHdr)
	} else {
		h.recordSubmitted(t)
	}
	h.mu.Unlock()
	if e == nil {
		h.failUnregistered(t)
		return
	}
	if tooLarge != nil {
		h.engineRefused(e, t, tooLarge)
		return
	}
	if herr != nil {
		h.engineRefused(e, t, herr)
		return
	}
	parts := [][]byte{hdr}
	if len(wbody) > 0 {
		parts = append(parts, wbody)
	}
	if err := e.conn.WriteFrame(parts...); err != nil {
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
	shares := h.shares(cl, fan, len(body))
	for i, ft := range fan {
		one := *r
		one.MsgID, one.Engine = ft.MsgID, ft.Engine
		h.requestShared(cl, &one, body, shares[i])
	}
	return nil
}

// minShared is the smallest body sent once per engine process rather
// than once per engine.
const minShared = 64 << 10

// shares groups the targets of a fan-out by engine process: in each group
// of two or more, the first target carries the body for the others.
func (h *Hub) shares(cl *client, fan []protocol.FanTarget, size int) []share {
	out := make([]share, len(fan))
	if size < minShared || len(fan) < 2 {
		return out
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	groups := map[string][]int{}
	for i, ft := range fan {
		if e := h.engines[ft.Engine]; e != nil && e.process != "" {
			groups[e.process] = append(groups[e.process], i)
		}
	}
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		key := cl.id + "/" + fan[g[0]].MsgID
		out[g[0]] = share{key: key, carrier: true, n: len(g) - 1}
		for _, i := range g[1:] {
			out[i] = share{key: key, from: fan[g[0]].MsgID}
		}
	}
	return out
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

// failUnregistered fails a direct task whose engine is not registered.
func (h *Hub) failUnregistered(t *task) {
	id := t.engine
	h.fail(t, id, &protocol.RemoteError{
		Name: "EngineError", Message: fmt.Sprintf("Engine %d is not registered", id),
		Engine: id, Method: string(t.req.Kind),
	})
}
