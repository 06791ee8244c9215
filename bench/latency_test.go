package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/procs"
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

// BenchmarkApplySyncNoopProcesses is rc[0].apply_sync(noop) as a user
// runs it: the client here, the controller and the engine each in a
// process of its own; the client process governed as pxsh's own client
// processes are (the shell, pxsh run, the kernel: package procs) or at
// Go's default. It reports the median and the CPU per call of each.
func BenchmarkApplySyncNoopProcesses(b *testing.B) {
	for _, governed := range []bool{true, false} {
		b.Run(fmt.Sprintf("client-governed=%v", governed), func(b *testing.B) {
			cl, _ := processCluster(b, 1)
			if governed {
				defer procs.Hold()()
			}
			applyNoopCPU(b, cl)
		})
	}
}

// applyNoopCPU times 3,000 apply_sync(noop) on engine 0 after 300 of
// warm-up and reports the median and each process's CPU per call.
func applyNoopCPU(b *testing.B, cl *client.Client) {
	v := cl.View(0)
	ctx := context.Background()
	const n = 3000
	ds := make([]time.Duration, 0, n)
	var before map[string]time.Duration
	for i := range n + n/10 {
		if i == n/10 {
			before = cpuByRole()
		}
		t0 := time.Now()
		if _, err := v.Apply(ctx, "lambda: None"); err != nil {
			b.Fatal(err)
		}
		if i >= n/10 {
			ds = append(ds, time.Since(t0))
		}
	}
	after := cpuByRole()
	b.ReportMetric(us(median(ds)), "median-µs")
	for _, role := range []string{"client", "controller", "engine"} {
		b.ReportMetric(us((after[role]-before[role])/n), role+"-cpu-µs/op")
	}
}
