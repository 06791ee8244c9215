package procs

import (
	"runtime"
	"strconv"
	"testing"
)

// The governor goes wide at once when one P is nearly used up, and back
// to one P only after a whole calm spell.
func TestProcsStep(t *testing.T) {
	type tick struct {
		cores         float64
		wide, changed bool
	}
	ticks := []tick{
		{0.2, false, false},
		{0.89, false, false},
		{0.95, true, true}, // one P nearly used up: every core
		{1.6, true, false},
		{0.5, true, false},  // a calm spell starts
		{0.85, true, false}, // and is broken
	}
	for range calmTicks - 1 {
		ticks = append(ticks, tick{0.3, true, false})
	}
	ticks = append(ticks, tick{0.3, false, true}) // a whole calm spell: one P
	var s state
	for i, tk := range ticks {
		wide, changed := s.step(tk.cores)
		if wide != tk.wide || changed != tk.changed {
			t.Fatalf("tick %d (%.2f cores): wide %v changed %v, want %v %v", i, tk.cores, wide, changed, tk.wide, tk.changed)
		}
	}
}

// Holders share one governor: the process runs on one P while any holds
// it (an idle test process never nears a core), and the last release
// gives the default back. An explicit GOMAXPROCS leaves it alone.
func TestHoldRelease(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	runtime.SetDefaultGOMAXPROCS()
	wide := runtime.GOMAXPROCS(0)
	if wide < 2 {
		t.Skip("one processor: nothing to govern")
	}
	r1, r2 := Hold(), Hold()
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("held: GOMAXPROCS %d, want 1", n)
	}
	r1()
	r1() // a second release of one hold does nothing
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("still held: GOMAXPROCS %d, want 1", n)
	}
	r2()
	if n := runtime.GOMAXPROCS(0); n != wide {
		t.Fatalf("released: GOMAXPROCS %d, want %d", n, wide)
	}
	t.Setenv("GOMAXPROCS", strconv.Itoa(wide))
	release := Hold()
	defer release()
	if n := runtime.GOMAXPROCS(0); n != wide {
		t.Fatalf("explicit GOMAXPROCS: governed to %d", n)
	}
}
