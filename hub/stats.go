package hub

import (
	"sync/atomic"
	"time"

	"github.com/pxsh/pxsh/protocol"
)

// Kinds lists the task kinds the hub counts, in the order of the arrays
// in Stats; "other" collects unknown kinds.
var Kinds = []string{"execute", "apply", "push", "pull", "clear", "modules", "other"}

// Outcomes lists the task outcomes the hub counts, in the order of the
// arrays in Stats.
var Outcomes = []string{"ok", "error", "aborted"}

// LatencyBounds are the upper bounds, in seconds, of the latency
// histograms' buckets (a last bucket holds everything above).
var LatencyBounds = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

const nKinds = 7

func kindIndex(k protocol.Kind) int {
	switch k {
	case protocol.KindExecute:
		return 0
	case protocol.KindApply:
		return 1
	case protocol.KindPush:
		return 2
	case protocol.KindPull:
		return 3
	case protocol.KindClear:
		return 4
	case protocol.KindModules:
		return 5
	}
	return 6
}

// histogram is a fixed-bucket histogram updated with atomics only.
type histogram struct {
	buckets [18]atomic.Uint64 // len(LatencyBounds)+1
	sumNS   atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	if d < 0 {
		return
	}
	s := d.Seconds()
	i := 0
	for i < len(LatencyBounds) && s > LatencyBounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNS.Add(uint64(d))
}

// Histogram is a copy of a latency histogram: Counts[i] holds the
// observations in (LatencyBounds[i-1], LatencyBounds[i]], the last entry
// those above every bound (not cumulative).
type Histogram struct {
	Counts []uint64
	Sum    float64 // seconds
	Count  uint64
}

func (h *histogram) copy() Histogram {
	out := Histogram{Counts: make([]uint64, len(h.buckets))}
	for i := range h.buckets {
		out.Counts[i] = h.buckets[i].Load()
		out.Count += out.Counts[i]
	}
	out.Sum = float64(h.sumNS.Load()) / 1e9
	return out
}

// stats are the hub's counters; every field is updated with atomics.
type stats struct {
	submitted [nKinds]atomic.Uint64
	finished  [nKinds][3]atomic.Uint64
	bytesIn   atomic.Uint64 // request bodies from clients
	bytesOut  atomic.Uint64 // result bodies to clients
	dbWrites  [3]atomic.Uint64
	latency   [nKinds]histogram // submitted → completed
	runtime   [nKinds]histogram // started → completed
	wait      [nKinds]histogram // submitted → started

	// The task stream: finished tasks in a ring of atomic pointers, filled
	// only once a watcher asked for it (Hub.Stream).
	watched atomic.Bool
	seq     atomic.Uint64
	ring    [spanRing]atomic.Pointer[Span]
}

const spanRing = 8192

// DB write operations counted by Stats.DBWrites.
var DBOps = []string{"submitted", "started", "finished"}

// Stats is a copy of the hub's counters (see docs/DASHBOARD.md).
type Stats struct {
	Submitted [nKinds]uint64    // by kind (Kinds)
	Finished  [nKinds][3]uint64 // by kind and outcome (Outcomes)
	BytesIn   uint64            // request bodies received from clients
	BytesOut  uint64            // result bodies received from engines
	DBWrites  [3]uint64         // records handed to the task database, by DBOps
	Latency   [nKinds]Histogram // submitted → completed, by kind
	Runtime   [nKinds]Histogram // started → completed, by kind
	Wait      [nKinds]Histogram // submitted → started, by kind
}

// Stats returns a copy of the hub's counters. It takes no lock.
func (h *Hub) Stats() Stats {
	s := &h.stats
	var out Stats
	for k := 0; k < nKinds; k++ {
		out.Submitted[k] = s.submitted[k].Load()
		for o := 0; o < 3; o++ {
			out.Finished[k][o] = s.finished[k][o].Load()
		}
		out.Latency[k] = s.latency[k].copy()
		out.Runtime[k] = s.runtime[k].copy()
		out.Wait[k] = s.wait[k].copy()
	}
	out.BytesIn, out.BytesOut = s.bytesIn.Load(), s.bytesOut.Load()
	for i := range out.DBWrites {
		out.DBWrites[i] = s.dbWrites[i].Load()
	}
	return out
}

// Span is one finished task of the task stream.
type Span struct {
	Seq       uint64 `json:"seq"`
	MsgID     string `json:"id"`
	Engine    int    `json:"engine"`
	Kind      string `json:"kind"`
	Status    string `json:"status"` // ok, error or aborted
	Label     string `json:"label,omitempty"`
	Client    string `json:"client,omitempty"`
	Submitted int64  `json:"submitted"` // unix ns
	Started   int64  `json:"started"`   // unix ns; 0 if it never ran
	Completed int64  `json:"completed"` // unix ns
}

// Stream returns the finished tasks recorded after seq (at most the last
// 8192) in order, and the sequence number to ask from next. The first call
// turns recording on; it takes no lock.
func (h *Hub) Stream(after uint64) ([]Span, uint64) {
	s := &h.stats
	s.watched.Store(true)
	last := s.seq.Load()
	first := after + 1
	if last >= spanRing && first <= last-spanRing {
		first = last - spanRing + 1
	}
	var out []Span
	for q := first; q <= last; q++ {
		p := s.ring[q%spanRing].Load()
		if p == nil || p.Seq < q {
			return out, q - 1 // not stored yet: ask again from here
		}
		if p.Seq == q {
			out = append(out, *p)
		}
	}
	return out, last
}

// noteSubmitted counts a new task.
func (s *stats) noteSubmitted(r *protocol.Request, body []byte) {
	s.submitted[kindIndex(r.Kind)].Add(1)
	s.bytesIn.Add(uint64(len(body)))
	s.dbWrites[0].Add(1)
}

// noteResult counts an outcome and records it in the task stream.
func (s *stats) noteResult(r *protocol.Result, body []byte) {
	k := kindIndex(r.Kind)
	o := 0
	switch r.Status {
	case protocol.StatusError:
		o = 1
	case protocol.StatusAborted:
		o = 2
	}
	s.finished[k][o].Add(1)
	s.bytesOut.Add(uint64(len(body)))
	s.dbWrites[2].Add(1)
	if r.Completed > 0 && r.Submitted > 0 {
		s.latency[k].observe(time.Duration(r.Completed - r.Submitted))
	}
	if r.Started > 0 && r.Completed > 0 {
		s.runtime[k].observe(time.Duration(r.Completed - r.Started))
	}
	if r.Started > 0 && r.Submitted > 0 {
		s.wait[k].observe(time.Duration(r.Started - r.Submitted))
	}
	if !s.watched.Load() {
		return
	}
	q := s.seq.Add(1)
	s.ring[q%spanRing].Store(&Span{Seq: q, MsgID: r.MsgID, Engine: r.Engine, Kind: string(r.Kind), Status: Outcomes[o],
		Label: r.Label, Client: r.Client, Submitted: r.Submitted, Started: r.Started, Completed: r.Completed})
}
