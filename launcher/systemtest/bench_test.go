package systemtest

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkStartLocal measures start-to-ready: `pxsh cluster start -n N
// --daemonize --wait` (controller, N local engines, all registered);
// stopping is not timed.
func BenchmarkStartLocal(b *testing.B) {
	need(b)
	for _, n := range []int{2, 8} {
		b.Run(fmt.Sprintf("engines=%d", n), func(b *testing.B) {
			e := newPxsh(b)
			for b.Loop() {
				e.mustPxsh(60*time.Second, "cluster", "start", "-n", fmt.Sprint(n), "--daemonize", "--wait")
				b.StopTimer()
				e.mustPxsh(60*time.Second, "cluster", "stop")
				b.StartTimer()
			}
		})
	}
}
