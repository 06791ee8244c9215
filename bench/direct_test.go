package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/shell/clientlib"
	"github.com/pxsh/pxsh/starlarklib"
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// starlarkClient returns a Starlark client environment on cluster c, with
// rc bound to a connected Client().
func starlarkClient(b *testing.B, c *clustertest.Cluster) (*starlarklib.Namespace, *starlark.Thread) {
	b.Helper()
	env := &clientlib.Env{
		Connect: func(ctx context.Context, profile, file string, timeout time.Duration) (*client.Client, error) {
			cl, err := client.Dial(ctx, c.ClientFile, client.Options{Timeout: timeout})
			if err == nil {
				b.Cleanup(func() { cl.Close() })
			}
			return cl, err
		},
	}
	builtins := starlarklib.Modules()
	for k, v := range clientlib.Builtins(env) {
		builtins[k] = v
	}
	ns := starlarklib.NewNamespace(builtins)
	env.NS = ns
	thread := &starlark.Thread{Name: "bench", Load: ns.Load}
	if _, err := ns.Exec(thread, "<bench>", "rc = Client()", false); err != nil {
		b.Fatal(err)
	}
	return ns, thread
}

// BenchmarkMapSync100k times a DirectView map_sync of lambda x: x*x over
// 100,000 ints on 2 engines, from Starlark (ipyparallel 7.1: about 20 ms).
func BenchmarkMapSync100k(b *testing.B) {
	c := clustertest.Start(b, 2, benchOpts)
	ns, thread := starlarkClient(b, c)
	code := "r = rc[:].map_sync(lambda x: x*x, data)"
	if _, err := ns.Exec(thread, "<bench>", "data = list(range(100000))", false); err != nil {
		b.Fatal(err)
	}
	ds := timeN(b, 20, func() error {
		_, err := ns.Exec(thread, "<bench>", code, false)
		return err
	})
	v, _ := ns.Get("r")
	if l, ok := v.(*starlark.List); !ok || l.Len() != 100000 || l.Index(99999).String() != "9999800001" {
		b.Fatalf("wrong result %s", v.Type())
	}
	b.ReportMetric(ms(median(ds)), "median-ms")
}

// BenchmarkMapSyncRange100k is make bench-compare's map_sync row with more
// runs: dv2.map_sync(lambda x: x*x, range(100000)) on 2 engine processes
// and a controller process with its on-disk database, one warm-up then
// the median of 300. testdata/ipp_map.py is ipyparallel's side.
func BenchmarkMapSyncRange100k(b *testing.B) {
	cl, _ := processCluster(b, 2)
	ns, thread := starlarkOn(b, cl)
	code := "back = dv2.map_sync(lambda x: x*x, range(100000))"
	run := func() error { _, err := ns.Exec(thread, "<bench>", code, false); return err }
	if err := run(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ms(median(timeN(b, 300, run))), "median-ms")
	if v, _ := ns.Get("back"); v.(*starlark.List).Index(99999).String() != "9999800001" {
		b.Fatal("wrong result")
	}
}

// BenchmarkScatterGather1M times scatter then gather of 1,000,000 floats
// over 4 engines, from Starlark.
func BenchmarkScatterGather1M(b *testing.B) {
	c := clustertest.Start(b, 4, benchOpts)
	ns, thread := starlarkClient(b, c)
	if _, err := ns.Exec(thread, "<bench>", "data = [x * 0.5 for x in range(1000000)]\ndv = rc[:]", false); err != nil {
		b.Fatal(err)
	}
	var scatter, gather []time.Duration
	ds := timeN(b, 5, func() error {
		t0 := time.Now()
		if _, err := ns.Exec(thread, "<bench>", "dv.scatter('part', data, block=True)", false); err != nil {
			return err
		}
		t1 := time.Now()
		if _, err := ns.Exec(thread, "<bench>", "back = dv.gather('part', block=True)", false); err != nil {
			return err
		}
		scatter = append(scatter, t1.Sub(t0))
		gather = append(gather, time.Since(t1))
		return nil
	})
	v, _ := ns.Get("back")
	if l, ok := v.(*starlark.List); !ok || l.Len() != 1000000 || l.Index(999999).String() != fmt.Sprint(999999*0.5) {
		b.Fatalf("wrong gather result")
	}
	b.ReportMetric(ms(median(ds)), "median-ms")
	b.ReportMetric(ms(median(scatter)), "scatter-median-ms")
	b.ReportMetric(ms(median(gather)), "gather-median-ms")
}
