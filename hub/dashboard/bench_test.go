package dashboard_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/pxsh/pxsh/internal/clustertest"
)

// BenchmarkApplyNoopWatched is bench's BenchmarkApplySyncNoop with the
// dashboard serving and one page's event stream open: the hub records the
// task stream. Compare the two medians.
func BenchmarkApplyNoopWatched(b *testing.B) {
	c := clustertest.Start(b, 1, clustertest.Options{Heartbeat: 500 * time.Millisecond, DeadAfter: 2500 * time.Millisecond})
	srv, err := serveB(b, c)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+srv.Addr().String()+"/events?token="+srv.Token(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	go func() {
		buf := make([]byte, 1<<16)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				return
			}
		}
	}()
	cl := c.Client()
	v := cl.View(0)
	n := 3000
	ds := make([]time.Duration, 0, n)
	for i := 0; i < n+300; i++ {
		t0 := time.Now()
		if _, err := v.Apply(context.Background(), "lambda: None"); err != nil {
			b.Fatal(err)
		}
		if i >= 300 {
			ds = append(ds, time.Since(t0))
		}
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/1e3, "median-µs")
}
