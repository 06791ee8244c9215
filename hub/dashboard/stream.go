package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pxsh/pxsh/hub"
)

// history samples throughput, queue depth and local engines' memory once
// a second; it keeps the last n samples.
type history struct {
	mu   sync.Mutex
	n    int
	pts  []point
	last uint64
	mem  map[int]int64 // engine pid → resident bytes (engines on this host)
}

// point is one sample: finished tasks in the second before At, and the
// tasks in flight and waiting at At.
type point struct {
	At       int64 `json:"t"` // unix ms
	Done     int   `json:"done"`
	InFlight int   `json:"flight"`
	Waiting  int   `json:"wait"`
}

func newHistory(n int) *history { return &history{n: n, mem: map[int]int64{}} }

func finishedTotal(st hub.Stats) uint64 {
	var n uint64
	for _, k := range st.Finished {
		for _, c := range k {
			n += c
		}
	}
	return n
}

func (hs *history) sample(ctx context.Context, h *hub.Hub) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	hs.mu.Lock()
	hs.last = finishedTotal(h.Stats())
	hs.mu.Unlock()
	host, _ := os.Hostname()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			snap := h.Snapshot()
			mem := residentByPID(snap.Engines, host, residentBytes)
			total := finishedTotal(h.Stats())
			hs.mu.Lock()
			hs.pts = append(hs.pts, point{At: now.UnixMilli(), Done: int(total - hs.last), InFlight: snap.InFlight, Waiting: snap.Unassigned})
			if len(hs.pts) > hs.n {
				hs.pts = hs.pts[len(hs.pts)-hs.n:]
			}
			hs.last, hs.mem = total, mem
			hs.mu.Unlock()
		}
	}
}

// residentByPID reads (with rss) the resident set size of each process
// on host that runs engines, once however many engines it runs (a dense
// process runs many: 1,000 engines in 25 processes are 25 reads a
// second, not 1,000).
func residentByPID(engines []hub.EngineState, host string, rss func(pid int) int64) map[int]int64 {
	mem := map[int]int64{}
	seen := map[int]bool{}
	for _, e := range engines {
		if e.Host != host || seen[e.PID] {
			continue
		}
		seen[e.PID] = true
		if n := rss(e.PID); n > 0 {
			mem[e.PID] = n
		}
	}
	return mem
}

// residentBytes reads a local process's resident set size, or 0.
func residentBytes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// copy returns the samples and the memory map.
func (hs *history) copy() ([]point, map[int]int64) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]point(nil), hs.pts...), hs.mem
}

// engineView is an engine as the page shows it.
type engineView struct {
	hub.EngineState
	// Memory is resident bytes for engines on the controller's host, else
	// what the engine reports (its Go runtime's memory).
	Memory int64 `json:"memory,omitempty"`
}

// view is the page's state: the snapshot with memory, and the history.
type view struct {
	At         int64        `json:"at"` // unix ms
	Cluster    string       `json:"cluster"`
	Engines    []engineView `json:"engines"`
	Unassigned int          `json:"unassigned"`
	InFlight   int          `json:"in_flight"`
	Clients    int          `json:"clients"`
	Submitted  uint64       `json:"submitted"`
	Finished   uint64       `json:"finished"`
	History    []point      `json:"history"`
}

func (s *Server) view() view {
	snap := s.h.Snapshot()
	pts, mem := s.hist.copy()
	st := s.h.Stats()
	v := view{At: snap.At.UnixMilli(), Cluster: snap.ClusterID, Unassigned: snap.Unassigned, InFlight: snap.InFlight,
		Clients: snap.Clients, History: pts, Finished: finishedTotal(st), Engines: make([]engineView, len(snap.Engines))}
	for _, n := range st.Submitted {
		v.Submitted += n
	}
	for i, e := range snap.Engines {
		v.Engines[i] = engineView{EngineState: e, Memory: mem[e.PID]}
		if v.Engines[i].Memory == 0 {
			v.Engines[i].Memory = e.Memory // reported by the engine (any host)
		}
	}
	return v
}

// update is one server-sent event: the view (when it changed) and the
// tasks finished since the last event.
type update struct {
	View  *view      `json:"view,omitempty"`
	Spans []hub.Span `json:"spans,omitempty"`
}

// events streams updates to one page, at most one per Interval and only
// when something changed; a comment every 15 s keeps proxies from closing
// an idle stream.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	var after uint64 // the first event carries the ring's recent spans
	var lastView []byte
	idle := 0
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
		var u update
		u.Spans, after = s.h.Stream(after)
		v := s.view()
		vb, _ := json.Marshal(v.withoutTime())
		if !bytes.Equal(vb, lastView) {
			u.View, lastView = &v, vb
		}
		if u.View == nil && len(u.Spans) == 0 {
			if idle++; idle*int(s.cfg.Interval/time.Millisecond) >= 15000 {
				fmt.Fprint(w, ": keep-alive\n\n")
				fl.Flush()
				idle = 0
			}
			continue
		}
		idle = 0
		b, err := json.Marshal(u)
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: update\ndata: %s\n\n", b); err != nil {
			return
		}
		fl.Flush()
	}
}

// withoutTime is the view without the fields that change on every call,
// for change detection.
func (v view) withoutTime() view {
	v.At = 0
	es := make([]engineView, len(v.Engines))
	for i, e := range v.Engines {
		e.LastSeen = 0
		es[i] = e
	}
	v.Engines = es
	return v
}
