package hub

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pxsh/pxsh/hub/taskdb"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/protocol"
)

// lastIDFile keeps the highest engine id ever assigned, so a restored
// controller does not reuse ids.
const lastIDFile = "last_engine_id"

// restoreAddr returns addr with the port of the profile's previous
// controller when addr asks for any port.
func restoreAddr(dir, addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr
	}
	c, err := profile.Read(profile.ConnectionPath(dir, false))
	if err != nil {
		return addr
	}
	_, old, err := net.SplitHostPort(c.Addresses[0])
	if err != nil {
		return addr
	}
	return net.JoinHostPort(host, old)
}

func readLastID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, lastIDFile))
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

// noteID records a newly assigned engine id; h.mu is held.
func (h *Hub) noteID(id int) {
	if h.cfg.ProfileDir == "" || id <= h.lastID {
		return
	}
	h.lastID = id
	os.WriteFile(filepath.Join(h.cfg.ProfileDir, lastIDFile), []byte(strconv.Itoa(id)+"\n"), 0o600)
}

// reload puts the tasks that were in flight when the previous controller
// stopped back in flight; engines that reconnect reclaim theirs, and the
// rest are settled after the grace period.
func (h *Hub) reload() error {
	recs, err := h.db.Unfinished(context.Background())
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	for _, rec := range recs {
		var req protocol.Request
		if err := protocol.UnmarshalHeader(rec.RequestHeader, &req); err != nil {
			h.log.Warn("restore: unreadable task", "msg_id", rec.MsgID, "err", err)
			continue
		}
		body := rec.Request
		if req.BodyOf != "" {
			if body, err = h.bodyOf(req.BodyOf); err != nil {
				h.log.Warn("restore: task without its body", "msg_id", rec.MsgID, "err", err)
			}
			req.BodyOf = ""
		}
		t := &task{req: req, client: rec.ClientID, engine: req.Engine, body: body, omitted: omittedRequest(body),
			balanced: rec.ViewKind == "balanced", restored: true,
			unstarted: rec.Status == taskdb.StatusPending}
		if t.balanced {
			t.engine = -1
		}
		if req.Timeout > 0 {
			t.deadline = time.Unix(0, req.Submitted).Add(seconds(req.Timeout))
		}
		h.tasks[req.MsgID] = t
	}
	h.restoring = len(recs) > 0
	if h.restoring {
		h.settled = make(chan struct{})
	}
	h.log.Info("restored tasks in flight", "tasks", len(recs))
	return nil
}

// unsettled returns, for a get_result asked while restoring about a task
// neither in flight here nor finished in the database, the channel
// closed when the restore settles, else nil: such a task may be held by
// an engine that has not reconnected yet, or its result may come again,
// so "unknown" (the client's TaskLost) can be said only once engines had
// their chance; before this, its result could come after the client had
// given the task up.
func (h *Hub) unsettled(op string, body []byte) <-chan struct{} {
	ids := getResultIDs(op, body)
	if len(ids) == 0 {
		return nil
	}
	h.mu.Lock()
	settled := h.settled
	var unknown []string
	for _, id := range ids {
		if h.restoring && h.tasks[id] == nil {
			unknown = append(unknown, id)
		}
	}
	h.mu.Unlock()
	if len(unknown) == 0 {
		return nil
	}
	recs, err := h.db.Get(context.Background(), unknown)
	if err != nil {
		return nil // get_result reports it
	}
	finished := 0
	for _, r := range recs {
		if r != nil && r.Status != taskdb.StatusPending && r.Status != taskdb.StatusRunning {
			finished++
		}
	}
	if finished == len(unknown) {
		return nil
	}
	return settled
}

// reclaim gives a reconnecting engine the restored tasks it still holds;
// h.mu is held.
func (h *Hub) reclaim(e *engine, ids []string) {
	for _, id := range ids {
		t := h.tasks[id]
		if t == nil || !t.restored || t.claimed {
			continue
		}
		// The scheduler does not know a reclaimed task: should its engine
		// die, it fails with EngineError like a direct task.
		t.claimed, t.engine, t.balanced = true, e.info.ID, false
		e.tasks[id] = t
	}
}

// delivered settles the restored tasks of a resuming client that it no
// longer waits for: the stopped controller delivered their results but had
// not recorded them yet. They are not run again; their records say what
// happened. h.mu is held.
func (h *Hub) delivered(clientID string, pending []string) {
	if !h.restoring {
		return
	}
	waiting := make(map[string]bool, len(pending))
	for _, id := range pending {
		waiting[id] = true
	}
	if h.resumed == nil {
		h.resumed = map[string]map[string]bool{}
	}
	h.resumed[clientID] = waiting
	n := 0
	for id, t := range h.tasks {
		if !t.restored || t.claimed || t.client != clientID || waiting[id] {
			continue
		}
		delete(h.tasks, id)
		n++
		h.recordResult(&protocol.Result{
			MsgID: id, Engine: t.engine, Status: protocol.StatusError, Kind: t.req.Kind,
			Submitted: t.req.Submitted, Completed: time.Now().UnixNano(), Client: t.client, Label: t.req.Label,
			Error: &protocol.RemoteError{
				Name:    "ResultNotRecorded",
				Message: fmt.Sprintf("the client received the result of task '%s', but the controller stopped before recording it", id),
				Engine:  t.engine, Method: string(t.req.Kind),
			},
		}, nil)
	}
	if n > 0 {
		h.log.Info("restore: tasks whose results their client already has", "client", clientID, "tasks", n)
	}
}

// settle ends the restored tasks no engine reclaimed. Load-balanced ones
// that never started are resubmitted (they never ran, so no retry is
// spent); ones that started are resubmitted when they have retries left.
// The others fail with TaskLost.
func (h *Hub) settle() {
	var out outbox
	var lost []*task
	h.mu.Lock()
	if h.restoring {
		close(h.settled)
	}
	h.restoring, h.resumed = false, nil
	for id, t := range h.tasks {
		if !t.restored || t.claimed {
			continue
		}
		t.restored = false
		if t.balanced && (t.unstarted || t.req.Retries > 0) && t.omitted == 0 {
			if !t.unstarted {
				t.req.Retries--
			}
			h.apply(h.sched.Submit(h.schedTask(t), time.Now()), &out)
			continue
		}
		delete(h.tasks, id)
		lost = append(lost, t)
	}
	h.mu.Unlock()
	out.flush()
	for _, t := range lost {
		msg := fmt.Sprintf("the controller restarted while task '%s' was in flight and no engine reclaimed it", t.req.MsgID)
		if t.omitted > 0 {
			msg += "; it cannot be sent again: " + errOmitted(t.omitted).Error()
		}
		h.fail(t, t.engine, &protocol.RemoteError{
			Name:    "TaskLost",
			Message: msg,
			Engine:  t.engine, Method: string(t.req.Kind),
		})
	}
	h.log.Info("restore settled", "failed", len(lost))
}

// reconcile sends a reconnected engine again the tasks the hub gave it
// that it neither holds nor has results for (they were lost with the old
// connection); h.mu is held.
func (h *Hub) reconcile(e *engine, r *protocol.Register) outbox {
	known := make(map[string]bool, len(r.Tasks)+len(r.Recent))
	for _, id := range r.Tasks {
		known[id] = true
	}
	for _, id := range r.Recent {
		known[id] = true
	}
	var out outbox
	for id, t := range e.tasks {
		if known[id] {
			continue
		}
		req := t.req
		req.Engine = e.info.ID
		if p, err := protocol.Marshal(protocol.TRequest, &req, nil); err == nil {
			h.addRequest(&out, e, t, p, t.body)
		}
	}
	return out
}
