package scheduler

import (
	"strconv"
	"testing"
)

func benchIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "task-" + strconv.Itoa(i)
	}
	return ids
}

// BenchmarkSubmitFinish measures one Submit plus one Finish with 16 engines
// at HWM 1 and a standing backlog of queued tasks, the hub's steady state.
func BenchmarkSubmitFinish(b *testing.B) {
	for _, backlog := range []int{0, 1000} {
		b.Run("backlog="+strconv.Itoa(backlog), func(b *testing.B) {
			s := New(Config{HWM: DefaultHWM})
			for e := range 16 {
				s.AddEngine(e)
			}
			ids := benchIDs(b.N + backlog + 16)
			where := make(map[string]int, 64)
			var fifo []string
			track := func(acts []Action) {
				for _, a := range acts {
					if a.Kind == Assign {
						where[a.TaskID] = a.Engine
						fifo = append(fifo, a.TaskID)
					}
				}
			}
			n := 0
			for ; n < backlog+16; n++ {
				track(s.Submit(Task{ID: ids[n]}, t0))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				track(s.Submit(Task{ID: ids[n]}, t0))
				n++
				id := fifo[0]
				fifo = fifo[1:]
				e := where[id]
				delete(where, id)
				track(s.Finish(id, e, true))
			}
		})
	}
}

// BenchmarkSubmitFinishUnlimited is BenchmarkSubmitFinish with HWM 0, where
// every Submit runs the leastload policy over all engines.
func BenchmarkSubmitFinishUnlimited(b *testing.B) {
	s := New(Config{HWM: 0})
	for e := range 16 {
		s.AddEngine(e)
	}
	ids := benchIDs(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		acts := s.Submit(Task{ID: ids[i]}, t0)
		s.Finish(ids[i], acts[0].Engine, true)
	}
}
