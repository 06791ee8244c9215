package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		live, scan uint64
		want       int
	}{
		{0, 0, 100},
		{100 << 20, 4 << 20, 100},      // little to mark: the default
		{200 << 20, 1 << 20, 100},      // a large bytes value
		{32 << 20, 16 << 20, 200},      // a 1M-float list beside its slabs
		{16 << 20, 16 << 20, 400},      // capped at maxPercent
		{1 << 30, 512 << 20, 100},      // capped at maxHeadroom: the default
		{200 << 20, 100 << 20, 128},    // 256 MiB of headroom over 200 MiB
		{8 << 20, minScan, maxPercent}, // at the threshold
	} {
		if got := Percent(c.live, c.scan); got != c.want {
			t.Errorf("Percent(%d MiB, %d MiB) = %d, want %d", c.live>>20, c.scan>>20, got, c.want)
		}
	}
}

// TestStartRaisesThenRestores holds a large list of pointers live, waits
// for the pacer to raise the percent after a cycle, and checks that stop
// restores the default.
func TestStartRaisesThenRestores(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the pacer is off")
	}
	stop := Start()
	live := make([]*int, 2<<20) // 16 MiB of pointers
	for i := range live {
		live[i] = new(int)
	}
	deadline := time.Now().Add(10 * time.Second)
	for percent() == basePercent {
		if time.Now().After(deadline) {
			stop()
			t.Fatal("the percent stayed at the default with 16 MiB of pointers live")
		}
		runtime.GC()
		runtime.Gosched()
	}
	runtime.KeepAlive(live)
	stop()
	if p := debug.SetGCPercent(basePercent); p != basePercent {
		t.Errorf("after stop the percent is %d, want %d", p, basePercent)
	}
}

func percent() int {
	mu.Lock()
	defer mu.Unlock()
	return current
}
