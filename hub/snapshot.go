package hub

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/pxsh/pxsh/hub/taskdb"
	"github.com/pxsh/pxsh/protocol"
)

// EngineState is what Snapshot says of one engine.
type EngineState struct {
	ID    int    `json:"id"`
	Host  string `json:"host"`
	PID   int    `json:"pid"`
	State string `json:"state"` // idle, busy or silent (missed two heartbeats)
	// Queue is how many tasks the engine holds (running and queued).
	Queue     int `json:"queue"`
	Completed int `json:"completed"`
	// Current is the running task, if the engine said one started.
	Current *RunningTask `json:"current,omitempty"`
	// LastSeen is how long ago the engine was last heard from.
	LastSeen time.Duration `json:"last_seen_ns"`
	// Memory is the engine process's memory in bytes as its last pong
	// said (0: not reported yet).
	Memory int64 `json:"memory,omitempty"`
	// Info is what the engine said when it registered (any capabilities
	// it reports included).
	Info protocol.EngineInfo `json:"info"`
}

// RunningTask is a task an engine has started.
type RunningTask struct {
	MsgID     string `json:"id"`
	Kind      string `json:"kind"`
	Label     string `json:"label,omitempty"`
	Client    string `json:"client,omitempty"`
	Submitted int64  `json:"submitted"` // unix ns
	Started   int64  `json:"started"`   // unix ns
}

// Snapshot is a consistent view of the controller's state.
type Snapshot struct {
	At        time.Time     `json:"at"`
	ClusterID string        `json:"cluster"`
	Engines   []EngineState `json:"engines"` // by id
	// Unassigned is the load-balanced tasks waiting for an engine.
	Unassigned int `json:"unassigned"`
	// InFlight is every task the hub holds (queued or running).
	InFlight int `json:"in_flight"`
	Clients  int `json:"clients"`
}

// Snapshot returns the engines and queues. It holds the hub's lock for a
// copy; callers poll it at human rates, not per task.
func (h *Hub) Snapshot() Snapshot {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Snapshot{At: now, ClusterID: h.clusterID, Engines: make([]EngineState, 0, len(h.engines)),
		Unassigned: h.sched.QueueLen(), InFlight: len(h.tasks), Clients: len(h.clients)}
	for _, e := range h.engines {
		st := EngineState{ID: e.info.ID, Host: e.info.Host, PID: e.info.PID, Queue: len(e.tasks),
			Completed: e.completed, LastSeen: now.Sub(e.lastSeen), State: "idle", Info: e.info, Memory: e.memory}
		if t := e.running; t != nil && e.tasks[t.req.MsgID] == t {
			st.Current = &RunningTask{MsgID: t.req.MsgID, Kind: string(t.req.Kind), Label: t.req.Label,
				Client: t.client, Submitted: t.req.Submitted, Started: t.started}
		}
		if len(e.tasks) > 0 {
			st.State = "busy"
		}
		if st.LastSeen > 2*h.cfg.Heartbeat {
			st.State = "silent"
		}
		s.Engines = append(s.Engines, st)
	}
	sort.Slice(s.Engines, func(i, j int) bool { return s.Engines[i].ID < s.Engines[j].ID })
	return s
}

// Abort aborts tasks as a client's cancel would: queued load-balanced
// tasks fail with TaskAborted at once, running ones are cancelled on their
// engines. Unknown or finished ids are ignored.
func (h *Hub) Abort(msgIDs []string, reason string) {
	h.cancel(nil, &protocol.Cancel{MsgIDs: msgIDs, Reason: reason})
}

// PurgeFinished deletes finished records from the task database (all of
// them when msgIDs is empty).
func (h *Hub) PurgeFinished(ctx context.Context, msgIDs []string) error {
	return h.db.Purge(ctx, msgIDs)
}

// QueryTasks runs a task database query (see taskdb.DB.Query) and returns
// at most the last limit matching records (limit <= 0: all).
func (h *Hub) QueryTasks(ctx context.Context, query map[string]any, keys []string, limit int) ([]map[string]any, error) {
	rows, err := h.db.Latest(ctx, query, keys, limit)
	if err != nil {
		return nil, fmt.Errorf("query tasks: %w", err)
	}
	return rows, nil
}

// Task returns one task's database record, or nil if there is none.
func (h *Hub) Task(ctx context.Context, msgID string) (*taskdb.Record, error) {
	recs, err := h.db.Get(ctx, []string{msgID})
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", msgID, err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	return recs[0], nil
}
