// Package gcpace paces Go's garbage collector by the heap's pointers,
// for pxsh's processes that hold large decoded Starlark values: engines
// and clients.
//
// A cycle's marking cost grows with the scannable heap (a list of 1M
// floats is 16 MB of interfaces the collector follows), not with the
// live heap: a 100 MB bytes value is marked at once. GOGC gives every
// live byte the same headroom, so a process holding a large list
// collects about once per list it allocates, each time marking the live
// one. After each cycle the pacer sets the percent so that the headroom
// is at least headroomPerScan times the scannable heap (up to maxHeadroom
// and maxPercent), and never below the default 100: a heap that is mostly
// pointer-free (bytes, arrays) keeps GOGC=100 and its footprint. An
// explicit GOGC in the environment turns the pacer off.
package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

const (
	basePercent     = 100     // the runtime's default
	maxPercent      = 400     // the most headroom the pacer gives
	headroomPerScan = 4       // headroom bytes wanted per scannable byte
	minScan         = 8 << 20 // below this the scannable heap is cheap to mark
	maxHeadroom     = 256 << 20
)

// Percent returns the GC percent for a heap of live bytes (at the end of
// the last cycle) of which scan bytes are scannable.
func Percent(live, scan uint64) int {
	if scan < minScan || live == 0 {
		return basePercent
	}
	want := min(headroomPerScan*scan, maxHeadroom)
	return max(basePercent, min(maxPercent, int(100*want/live)))
}

var (
	mu      sync.Mutex
	holders int
	current = basePercent
)

// Start starts pacing the collector unless GOGC is set in the
// environment; stop ends it and restores the default percent once every
// holder has stopped.
func Start() (stop func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	mu.Lock()
	holders++
	if holders == 1 {
		arm()
	}
	mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			if holders--; holders == 0 && current != basePercent {
				current = basePercent
				debug.SetGCPercent(basePercent)
			}
		})
	}
}

// sentinel is garbage from its birth: its finalizer runs after the next
// cycle (it has a pointer, so it is not one of the tiny allocations that
// share a block and may never be finalized).
type sentinel struct {
	p *byte
	_ [8]byte
}

// arm tunes after the next cycle and arms again while anyone holds.
func arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		mu.Lock()
		defer mu.Unlock()
		if holders == 0 {
			return
		}
		tune()
		arm()
	})
}

// tune sets the percent from the last cycle's heap; mu is held.
func tune() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return
	}
	if p := Percent(s[0].Value.Uint64(), s[1].Value.Uint64()); p != current {
		current = p
		debug.SetGCPercent(p)
	}
}
