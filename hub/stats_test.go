package hub

import (
	"fmt"
	"testing"
	"time"

	"github.com/pxsh/pxsh/protocol"
)

func TestStatsAndStream(t *testing.T) {
	h := &Hub{}
	res := func(i int, st protocol.Status) *protocol.Result {
		now := time.Now().UnixNano()
		return &protocol.Result{MsgID: fmt.Sprint("m-", i), Kind: protocol.KindApply, Status: st, Engine: i % 3,
			Submitted: now - 3e6, Started: now - 2e6, Completed: now}
	}
	h.stats.noteResult(res(0, protocol.StatusOK), nil) // before any watcher: counted, not streamed
	if spans, next := h.Stream(0); len(spans) != 0 || next != 0 {
		t.Fatalf("stream before watching: %v %d", spans, next)
	}
	for i := 1; i <= 10; i++ {
		st := protocol.StatusOK
		if i%5 == 0 {
			st = protocol.StatusError
		}
		h.stats.noteSubmitted(&protocol.Request{Kind: protocol.KindApply}, make([]byte, 10))
		h.stats.noteResult(res(i, st), make([]byte, 3))
	}
	spans, next := h.Stream(0)
	if len(spans) != 10 || next != 10 || spans[0].MsgID != "m-1" || spans[9].MsgID != "m-10" || spans[4].Status != "error" {
		t.Fatalf("stream: %d spans, next %d: %+v", len(spans), next, spans)
	}
	if more, n := h.Stream(next); len(more) != 0 || n != next {
		t.Errorf("stream after the end: %v %d", more, n)
	}
	s := h.Stats()
	k := kindIndex(protocol.KindApply)
	if s.Submitted[k] != 10 || s.Finished[k][0] != 9 || s.Finished[k][1] != 2 || s.BytesIn != 100 || s.BytesOut != 30 {
		t.Errorf("stats: submitted %d finished %v bytes %d/%d", s.Submitted[k], s.Finished[k], s.BytesIn, s.BytesOut)
	}
	if s.Latency[k].Count != 11 || s.Latency[k].Counts[3] != 11 { // 3 ms: the (0.0025, 0.005] bucket
		t.Errorf("latency histogram: %+v", s.Latency[k])
	}
	// A reader that falls more than the ring behind skips to the kept part.
	for i := 0; i < spanRing+5; i++ {
		h.stats.noteResult(res(i, protocol.StatusOK), nil)
	}
	spans, next = h.Stream(3)
	if len(spans) != spanRing || next != uint64(10+spanRing+5) || spans[0].Seq != next-spanRing+1 {
		t.Errorf("lapped reader: %d spans, next %d, first %d", len(spans), next, spans[0].Seq)
	}
}
