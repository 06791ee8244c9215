package bench

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkPush100MB4Engines times pushing 100 MB of bytes to 4 engines
// (the client sends it once; the controller fans it out) and reports the
// controller process's peak RSS.
func BenchmarkPush100MB4Engines(b *testing.B) {
	cl, pid := processCluster(b, 4, "--memory-db")
	v := cl.View()
	ctx := context.Background()
	data := make([]byte, 100<<20)
	for i := range data {
		data[i] = byte(i)
	}
	ds := timeN(b, 3, func() error {
		if err := v.Push(ctx, map[string]any{"blob": data}); err != nil {
			return err
		}
		got, err := v.Apply(ctx, "lambda: len(blob)")
		if err != nil {
			return err
		}
		if got[3] != int64(len(data)) {
			return fmt.Errorf("engine 3 has %v bytes", got[3])
		}
		return nil
	})
	b.ReportMetric(ms(median(ds)), "median-ms")
	b.ReportMetric(peakRSS(pid), "controller-peak-MB")
}

// BenchmarkPushPull10MBDatabase times push+pull of 10 MB of bytes on 2
// engines with the controller's task database on disk (the default) and
// in memory: the pulled results are stored in full.
func BenchmarkPushPull10MBDatabase(b *testing.B) {
	for _, db := range []string{"disk", "memory"} {
		b.Run(db, func(b *testing.B) {
			var flags []string
			if db == "memory" {
				flags = []string{"--memory-db"}
			}
			cl, _ := processCluster(b, 2, flags...)
			v := cl.View(0, 1)
			ctx := context.Background()
			data := make([]byte, 10<<20)
			ds := timeN(b, 5, func() error {
				if err := v.Push(ctx, map[string]any{"blob": data}); err != nil {
					return err
				}
				_, err := v.Pull(ctx, "blob")
				return err
			})
			b.ReportMetric(ms(median(ds)), "median-ms")
		})
	}
}
