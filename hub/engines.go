package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// errIDInUse refuses an id that a live engine holds.
var errIDInUse = errors.New("id is in use by a live engine")

// engine is a registered engine. Fields are guarded by Hub.mu.
type engine struct {
	info      protocol.EngineInfo
	conn      *link
	lastSeen  time.Time
	packets   uint64           // the connection's packet count when last checked
	tasks     map[string]*task // outstanding on this engine
	balanced  int              // of which load-balanced
	completed int
	dead      bool
	running   *task  // the last task the engine said started (Snapshot)
	maxFrame  int    // the engine's frame limit (0: unknown)
	maxValue  int64  // the engine's streamed-value limit (0: unknown)
	process   string // Register.Process: engines of one process share it
	memory    int64  // bytes, as the engine's last pong said (0: unknown)
}

// fits returns a TooLargeError when a request of n bytes is over e's frame
// limit (the engine would drop its connection on it); h.mu is held.
func (e *engine) fits(what string, n int) error {
	if e.maxFrame > 0 && n > e.maxFrame {
		return &protocol.TooLargeError{What: what + " for engine " + fmt.Sprint(e.info.ID), Size: int64(n), Limit: int64(e.maxFrame)}
	}
	return nil
}

// task is a request in flight. Fields are guarded by Hub.mu.
type task struct {
	req      protocol.Request
	client   string
	engine   int // -1 while unassigned
	body     []byte
	streamed int64 // the size of a body that passed in chunks (not kept)
	balanced bool
	deadline time.Time // zero: none
	watchers []string  // other clients waiting for the result
	restored bool      // reloaded from the database after a restart
	omitted  int64     // restored without its body, which was this large (MaxStoredRequest)
	claimed  bool      // a reconnected engine said it holds it
	// unstarted: restored with no Started notice recorded
	unstarted bool
	started   int64 // unix ns of the engine's started notice; 0 before
	// sent is when a load-balanced task was sent to its engine; alone,
	// that the engine held nothing else then (its round trip is measured).
	sent  time.Time
	alone bool
}

// deliver queues a result frame for the task's client and watchers; h.mu
// is held.
func (h *Hub) deliver(t *task, frame []byte, out *outbox) {
	if cl := h.clients[t.client]; cl != nil {
		out.add(cl.conn, frame)
	}
	for _, w := range t.watchers {
		if cl := h.clients[w]; cl != nil {
			out.add(cl.conn, frame)
		}
	}
}

func (h *Hub) serveEngine(ctx context.Context, c *quic.Conn, r *protocol.Register) {
	l := ownLink(c)
	e, out, err := h.register(l, r)
	if err != nil {
		send(c, protocol.TRegistered, &protocol.Registered{ClusterID: h.clusterID, Error: err.Error(), Busy: isIDInUse(err)}, nil)
		h.refuse(c, protocol.CodeVersion, err)
		return
	}
	out.flush()
	h.log.Info("engine registered", "id", e.info.ID, "host", e.info.Host, "pid", e.info.PID)
	h.broadcast(protocol.TEngineEvent, &protocol.EngineEvent{Joined: true, Engine: e.info})
	var b burst
	defer b.release()
	for {
		p, body, err := c.ReadStream()
		if err != nil {
			h.log.Info("engine connection lost", "id", e.info.ID, "err", err)
			return // the heartbeat decides whether it is dead
		}
		if body != nil {
			err = h.engineStream(e, p, body)
		} else {
			err = h.engineFrame(e, l, p, b.during(c))
		}
		b.after(c)
		if err != nil {
			h.refuse(c, protocol.CodeBadFrame, fmt.Errorf("engine %d: %w", e.info.ID, err))
			return
		}
	}
}

func isIDInUse(err error) bool { return errors.Is(err, errIDInUse) }

// register admits an engine reached on c, giving it the id it asks for
// when free. The Registered reply is sent under h.mu, so that no request
// reaches the engine before it.
func (h *Hub) register(c *link, r *protocol.Register) (*engine, outbox, error) {
	if r.Version != protocol.Version {
		return nil, nil, fmt.Errorf("register: protocol version %d, want %d", r.Version, protocol.Version)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c.c.SetQueueBound(h.cfg.EngineQueue)
	var drop []string
	welcome := func(e *engine) error {
		return send(c, protocol.TRegistered, &protocol.Registered{ID: e.info.ID, ClusterID: h.clusterID,
			HeartbeatMS: int(h.cfg.Heartbeat / time.Millisecond), Drop: drop, MaxFrame: h.cfg.MaxFrame, MaxValue: h.cfg.MaxValue,
			DeadAfterMS: int(h.cfg.DeadAfter / time.Millisecond)}, nil)
	}
	id := r.ID
	if id >= 0 {
		if old, ok := h.engines[id]; ok {
			if !r.Resume || old.info.PID != r.PID || old.info.Host != r.Host {
				return nil, nil, fmt.Errorf("register: engine id %d: %w", id, errIDInUse)
			}
			old.conn.Close(uint64(protocol.CodeReplaced), "engine reconnected")
			old.conn, old.lastSeen, old.maxFrame, old.maxValue = c, time.Now(), c.frameRoom(r.MaxFrame), r.MaxValue
			drop = h.stale(old, r.Tasks)
			if err := welcome(old); err != nil {
				return nil, nil, err
			}
			return old, h.reconcile(old, r), nil
		}
	} else {
		for h.used[h.nextID] {
			h.nextID++
		}
		id = h.nextID
	}
	h.used[id] = true
	h.noteID(id)
	e := &engine{
		info:     protocol.EngineInfo{ID: id, Host: r.Host, PID: r.PID, Caps: r.Caps},
		process:  r.Process,
		conn:     c,
		lastSeen: time.Now(),
		tasks:    map[string]*task{},
		maxFrame: c.frameRoom(r.MaxFrame),
		maxValue: r.MaxValue,
	}
	h.engines[id] = e
	if r.Resume {
		h.reclaim(e, r.Tasks)
		drop = h.stale(e, r.Tasks)
		if len(drop) > 0 {
			h.log.Warn("engine rejoined holding tasks the hub gave up on; it drops them", "id", id, "tasks", len(drop))
		}
	}
	if err := welcome(e); err != nil {
		return nil, nil, err
	}
	var out outbox
	h.apply(h.sched.AddEngine(id), &out)
	return e, out, nil
}

// stale lists the tasks a resuming engine holds that are no longer its
// own: the hub declared it dead meanwhile, so their clients were told they
// failed (or they were retried elsewhere). The engine must not run them.
// While a restored hub waits for its engines nothing is stale: the
// database may not know every task yet. h.mu is held.
func (h *Hub) stale(e *engine, held []string) []string {
	if h.restoring {
		return nil
	}
	var drop []string
	for _, id := range held {
		if t := h.tasks[id]; t == nil || t.engine != e.info.ID {
			drop = append(drop, id)
		}
	}
	return drop
}

func (h *Hub) engineFrame(e *engine, c *link, p []byte, b *burst) error {
	t, hb, body, err := protocol.Split(p)
	if err != nil {
		return err
	}
	h.mu.Lock()
	e.lastSeen = time.Now()
	h.mu.Unlock()
	switch t {
	case protocol.TPong:
		var m protocol.Pong
		if err := protocol.UnmarshalHeader(hb, &m); err != nil {
			return err
		}
		if m.Memory > 0 {
			h.setMemory(e, m.Memory)
		}
		return nil
	case protocol.TProbe:
		// Acknowledged only while the engine is registered on this
		// connection: a dead one learns it by reconnecting.
		h.mu.Lock()
		live := h.engines[e.info.ID] == e && !e.dead && e.conn == c
		h.mu.Unlock()
		if live {
			c.WriteUrgent(append([]byte{byte(protocol.TProbeAck)}, p[1:]...))
		}
		return nil
	case protocol.TStarted:
		var m protocol.Started
		if err := protocol.UnmarshalHeader(hb, &m); err != nil {
			return err
		}
		h.engineStarted(&m, p)
		return nil
	case protocol.TOutput:
		var m protocol.Output
		if err := protocol.UnmarshalHeader(hb, &m); err != nil {
			return err
		}
		h.forwardToAsker(m.MsgID, p)
		return nil
	case protocol.TReturn:
		var m protocol.Return
		if err := protocol.UnmarshalHeader(hb, &m); err != nil {
			return err
		}
		h.returned(e, m.MsgIDs)
		return nil
	case protocol.TResult:
		var r protocol.Result
		if err := protocol.UnmarshalHeader(hb, &r); err != nil {
			return err
		}
		h.engineResultHeld(e, &r, p, body, b)
		return nil
	}
	return fmt.Errorf("unexpected %s from engine", t)
}

// setMemory records an engine process's memory (a pong's) for each of
// its engines.
func (h *Hub) setMemory(e *engine, n int64) {
	engines := []*engine{e}
	if p := e.conn.proc; p != nil {
		p.mu.Lock()
		for _, s := range p.slots {
			engines = append(engines, s.e)
		}
		p.mu.Unlock()
	}
	h.mu.Lock()
	for _, e := range engines {
		e.memory = n
	}
	h.mu.Unlock()
}

// engineResult routes a result frame, unchanged, to the client that asked.
func (h *Hub) engineResult(e *engine, r *protocol.Result, frame, body []byte) {
	h.engineResultHeld(e, r, frame, body, nil)
}

// engineResultHeld is engineResult with the frames it sends held in b
// (nil: none).
func (h *Hub) engineResultHeld(e *engine, r *protocol.Result, frame, body []byte, b *burst) {
	var out outbox
	h.mu.Lock()
	t := h.tasks[r.MsgID]
	switch {
	case t != nil && t.restored:
		// A result sent again after a restart settles a restored task.
		delete(h.tasks, r.MsgID)
		delete(e.tasks, r.MsgID)
		h.recordResult(r, body)
		h.deliver(t, frame, &out)
	case t != nil && t.engine == e.info.ID:
		delete(h.tasks, r.MsgID)
		delete(e.tasks, r.MsgID)
		e.completed++
		// The result leaves before what it sets off (dependents
		// dispatched, retries), so that no dependent's result overtakes
		// it on its way to the client.
		var next outbox
		if !t.balanced || h.balancedResult(t, e, r, &next) {
			h.recordResult(r, body)
			h.deliver(t, frame, &out)
		}
		out = append(out, next...)
	case t == nil && h.restoring:
		// A result the crashed controller may not have recorded; its
		// client gets it only if it said it waits for it (engines send
		// their recent results again, which the client may have).
		h.recordResult(r, body)
		if cl := h.clients[r.Client]; cl != nil && h.resumed[r.Client][r.MsgID] {
			out.add(cl.conn, frame)
		}
	}
	h.mu.Unlock()
	out.flushHeld(b)
}

// engineRefused fails a task whose request e's outgoing queue refused
// (e has not read EngineQueue bytes queued for it), as if e had answered
// EngineBusy: a load-balanced task with retries left goes elsewhere.
// Other write errors are left to the heartbeat. h.mu is not held.
func (h *Hub) engineRefused(e *engine, t *task, err error) {
	re := &protocol.RemoteError{Name: "EngineBusy", Engine: e.info.ID, Method: string(t.req.Kind),
		Message: fmt.Sprintf("Engine %d is not reading its requests: %v", e.info.ID, err)}
	var tl *protocol.TooLargeError
	switch {
	case errors.As(err, &tl):
		re.Name, re.Message = "ValueError", err.Error()
	case !errors.Is(err, quic.ErrQueueFull):
		return
	default:
		h.log.Warn("engine not reading: task refused", "id", e.info.ID, "msg_id", t.req.MsgID, "err", err)
	}
	r := protocol.Result{
		MsgID: t.req.MsgID, Engine: e.info.ID, Status: protocol.StatusError, Submitted: t.req.Submitted,
		Completed: time.Now().UnixNano(), Kind: t.req.Kind, Client: t.client, Label: t.req.Label,
		Error: re,
	}
	frame, err := protocol.Marshal(protocol.TResult, &r, nil)
	if err == nil {
		h.engineResult(e, &r, frame, nil)
	}
}

// engineStarted relays a started notice to the task's client.
func (h *Hub) engineStarted(m *protocol.Started, frame []byte) {
	h.mu.Lock()
	var cl *client
	t := h.tasks[m.MsgID]
	if t != nil {
		cl = h.clients[t.client]
		t.started = m.At
		if e := h.engines[t.engine]; e != nil {
			e.running = t
		}
		if t.engine == m.Engine {
			h.sched.Long(m.Engine, longRun)
		}
	}
	record := t != nil || h.restoring // not a task that already failed
	h.mu.Unlock()
	if record {
		h.db.Started(m.MsgID, m.Engine, unixTime(m.At))
		h.stats.dbWrites[1].Add(1)
	}
	if cl != nil {
		cl.conn.WriteFrame(frame)
	}
}

// forwardToAsker sends a frame about a task, unchanged, to the client that
// submitted it, if it is connected.
func (h *Hub) forwardToAsker(msgID string, frame []byte) {
	h.mu.Lock()
	var cl *client
	if t := h.tasks[msgID]; t != nil {
		cl = h.clients[t.client]
	}
	h.mu.Unlock()
	if cl != nil {
		cl.conn.WriteFrame(frame)
	}
}

// heartbeats pings engines and declares dead those not heard from. Any
// packet the engine's transport sends (an ACK of a ping, a keep-alive, a
// piece of a large frame) counts as hearing from it, so an engine busy in
// a long Go call or sending a large result is not declared dead while its
// process runs. Engines with tasks are pinged every heartbeat; idle ones
// only once silent for a third of DeadAfter (the transport's keep-alives,
// at that period, keep them heard), which keeps 1,000 idle engines cheap
// and leaves two thirds of DeadAfter for an answer.
func (h *Hub) heartbeats(ctx context.Context) {
	tick := time.NewTicker(h.cfg.Heartbeat)
	defer tick.Stop()
	ping, _ := protocol.Marshal(protocol.TPing, &protocol.Ping{}, nil)
	slack := h.cfg.Heartbeat / 10
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			var dead []*engine
			var live []*link
			packets := map[*quic.Conn]uint64{} // engines of a process share one
			h.mu.Lock()
			for _, e := range h.engines {
				n, ok := packets[e.conn.c]
				if !ok {
					n = e.conn.c.PacketsReceived()
					packets[e.conn.c] = n
				}
				if n != e.packets {
					e.packets, e.lastSeen = n, now
				}
				// lastSeen is at or after the last packet (the tick that
				// saw it), so quiet is a true silence (give or take the
				// ticker's jitter, which slack absorbs), and a dead engine
				// is declared within DeadAfter plus one heartbeat of it.
				switch quiet := now.Sub(e.lastSeen); {
				case quiet+slack >= h.cfg.DeadAfter:
					dead = append(dead, e)
				case quiet >= h.cfg.DeadAfter/3 || len(e.tasks) > 0:
					live = append(live, e.conn)
				}
			}
			h.mu.Unlock()
			for _, l := range pingTargets(live) {
				l.WriteUrgent(ping)
			}
			for _, e := range dead {
				h.engineDied(e, "heartbeat")
			}
		}
	}
}

// engineDied removes an engine and fails its outstanding tasks with
// EngineError.
func (h *Hub) engineDied(e *engine, why string) {
	h.mu.Lock()
	if h.engines[e.info.ID] != e {
		h.mu.Unlock()
		return
	}
	delete(h.engines, e.info.ID)
	e.dead = true
	var out outbox
	fails := h.lost(e.info.ID, &out)
	for id, t := range e.tasks {
		if !t.balanced {
			delete(h.tasks, id)
			fails = append(fails, t)
		}
	}
	e.tasks = nil
	h.mu.Unlock()
	// Clients learn that the engine left before its tasks' failures: one
	// that sees an EngineError for it no longer lists it.
	h.broadcast(protocol.TEngineEvent, &protocol.EngineEvent{Joined: false, Engine: e.info})
	out.flush()
	h.log.Warn("engine died", "id", e.info.ID, "why", why, "tasks", len(fails))
	e.conn.Close(uint64(protocol.CodeShutdown), "declared dead")
	for _, t := range fails {
		h.fail(t, e.info.ID, &protocol.RemoteError{
			Name:    "EngineError",
			Message: fmt.Sprintf("Engine %d died while running task '%s'", e.info.ID, t.req.MsgID),
			Engine:  e.info.ID,
			Method:  string(t.req.Kind),
		})
	}
}

// fail reports a task's failure to its client on the hub's behalf.
func (h *Hub) fail(t *task, engine int, rerr *protocol.RemoteError) {
	var out outbox
	h.mu.Lock()
	h.deliver(t, h.failFrame(t, engine, rerr), &out)
	h.mu.Unlock()
	out.flush()
}
