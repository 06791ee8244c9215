package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
)

// benchOpts use the controller's default heartbeats, not the tests' short
// ones.
var benchOpts = clustertest.Options{Heartbeat: 500 * time.Millisecond, DeadAfter: 2500 * time.Millisecond}

// median returns the median of ds.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// timeN times f n times after a short warm-up and returns the durations.
func timeN(b *testing.B, n int, f func() error) []time.Duration {
	b.Helper()
	for i := 0; i < n/10+1; i++ {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	ds := make([]time.Duration, n)
	for i := range ds {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		ds[i] = time.Since(t0)
	}
	return ds
}

func BenchmarkApplySyncNoop(b *testing.B) {
	c := clustertest.Start(b, 1, benchOpts)
	cl := c.Client()
	v := cl.View(0)
	ctx := context.Background()
	ds := timeN(b, 3000, func() error { _, err := v.Apply(ctx, "lambda: None"); return err })
	b.ReportMetric(us(median(ds)), "median-µs")
}

func BenchmarkExecute4Engines(b *testing.B) {
	c := clustertest.Start(b, 4, benchOpts)
	cl := c.Client()
	v := cl.View()
	ctx := context.Background()
	ds := timeN(b, 1000, func() error { return v.Execute(ctx, "x = 1") })
	b.ReportMetric(us(median(ds)), "median-µs")
}

func BenchmarkPushPull10MB(b *testing.B) {
	c := clustertest.Start(b, 2, benchOpts)
	cl := c.Client()
	v := cl.View(0, 1)
	ctx := context.Background()
	data := make([]byte, 10<<20)
	for i := range data {
		data[i] = byte(i)
	}
	ds := timeN(b, 5, func() error {
		if err := v.Push(ctx, map[string]any{"blob": data}); err != nil {
			return err
		}
		got, err := v.Pull(ctx, "blob")
		if err != nil {
			return err
		}
		if len(got[1].([]byte)) != len(data) {
			return fmt.Errorf("pulled %d bytes", len(got[1].([]byte)))
		}
		return nil
	})
	b.ReportMetric(float64(median(ds))/float64(time.Millisecond), "median-ms")
}

// throughput runs n no-op load-balanced tasks and returns tasks/s end to
// end (first submission to last result) and the submission rate.
func throughput(b *testing.B, cl *client.Client, n int) (float64, float64) {
	lv := cl.LoadBalanced(client.TaskOptions{})
	tasks := make([]*client.Task, n)
	t0 := time.Now()
	for i := range tasks {
		t, err := lv.ApplyAsync("lambda: None")
		if err != nil {
			b.Fatal(err)
		}
		tasks[i] = t
	}
	submitted := time.Since(t0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := (&client.AsyncResult{Tasks: tasks}).Get(ctx); err != nil {
		b.Fatal(err)
	}
	total := time.Since(t0)
	return float64(n) / total.Seconds(), float64(n) / submitted.Seconds()
}

func BenchmarkBalancedThroughput(b *testing.B) {
	for _, engines := range []int{2, 4} {
		for _, hwm := range []int{0, 4, -1} {
			name := fmt.Sprintf("engines=%d/hwm=%d", engines, hwm)
			if hwm == 0 {
				name = fmt.Sprintf("engines=%d/hwm=1(default)", engines)
			} else if hwm < 0 {
				name = fmt.Sprintf("engines=%d/hwm=unlimited", engines)
			}
			b.Run(name, func(b *testing.B) {
				c := clustertest.Start(b, engines, clustertest.Options{HWM: hwm, Heartbeat: benchOpts.Heartbeat, DeadAfter: benchOpts.DeadAfter})
				cl := c.Client()
				throughput(b, cl, 2000) // warm-up
				m, io := markCPU(), markIO()
				rate, sub := throughput(b, cl, 20000)
				reportCPU(b, m, 20000)
				reportIO(b, io, 20000)
				b.ReportMetric(rate, "tasks/s")
				b.ReportMetric(sub, "submitted/s")
			})
		}
	}
}

func BenchmarkBalancedApplySync(b *testing.B) {
	c := clustertest.Start(b, 2, benchOpts)
	cl := c.Client()
	lv := cl.LoadBalanced(client.TaskOptions{})
	ctx := context.Background()
	ds := timeN(b, 2000, func() error { _, err := lv.Apply(ctx, "lambda: None"); return err })
	b.ReportMetric(us(median(ds)), "median-µs")
}

func BenchmarkStartToReady(b *testing.B) {
	for _, n := range []int{2, 8} {
		b.Run(fmt.Sprintf("engines=%d", n), func(b *testing.B) {
			clustertest.Binary(b)
			ds := make([]time.Duration, 5)
			for i := range ds {
				t0 := time.Now()
				c := clustertest.Start(b, n, benchOpts)
				ds[i] = time.Since(t0)
				c.StopEngines()
			}
			b.ReportMetric(float64(median(ds))/float64(time.Millisecond), "median-ms")
		})
	}
}
