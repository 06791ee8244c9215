package bench

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pxsh/pxsh/internal/clustertest"
)

// BenchmarkApplySyncBreakdown splits rc[0].apply_sync(noop) by the
// timestamps a result carries (engine clock = client clock here): the
// way in (client submit to the engine receiving the request), the
// engine's queue (received to started), the run (started to completed:
// decoding the call, rebuilding the function, running it, encoding the
// value) and the way back (completed to the client having the result).
func BenchmarkApplySyncBreakdown(b *testing.B) {
	c := clustertest.Start(b, 1, benchOpts)
	cl := c.Client()
	ctx := context.Background()
	v := cl.View(0)
	const n = 3000
	var in, queue, run, back, total []time.Duration
	var m cpuMark
	for i := range n + n/10 {
		if i == n/10 {
			m = markCPU()
		}
		t0 := time.Now()
		ar, err := v.ApplyAsync("lambda: None")
		if err != nil {
			b.Fatal(err)
		}
		if err := ar.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if i < n/10 {
			continue
		}
		r, _ := ar.Tasks[0].Result()
		in = append(in, time.Duration(r.Received-t0.UnixNano()))
		queue = append(queue, time.Duration(r.Started-r.Received))
		run = append(run, time.Duration(r.Completed-r.Started))
		back = append(back, time.Duration(t1.UnixNano()-r.Completed))
		total = append(total, t1.Sub(t0))
	}
	reportCPU(b, m, n)
	med := func(ds []time.Duration) float64 { s := slices.Clone(ds); slices.Sort(s); return us(s[len(s)/2]) }
	b.ReportMetric(med(total), "total-µs")
	b.ReportMetric(med(in), "in-µs")
	b.ReportMetric(med(queue), "queue-µs")
	b.ReportMetric(med(run), "run-µs")
	b.ReportMetric(med(back), "back-µs")
}
