package procs

import (
	"runtime"
	"strconv"
	"testing"
)

// tick is what the governor saw in one tick and what it should decide.
type tick struct {
	cores, queued float64
	wide, changed bool
}

func repeat(n int, tk tick) []tick {
	ts := make([]tick, n)
	for i := range ts {
		ts[i] = tk
	}
	return ts
}

// runTicks steps s through ticks and checks each decision.
func runTicks(t *testing.T, s *state, ticks []tick) {
	t.Helper()
	for i, tk := range ticks {
		wide, changed := s.step(tk.cores, tk.queued)
		if wide != tk.wide || changed != tk.changed {
			t.Fatalf("tick %d (%.2f cores, %.1f queued): wide %v changed %v, want %v %v", i, tk.cores, tk.queued, wide, changed, tk.wide, tk.changed)
		}
	}
}

// The governor goes wide at once when one P is nearly used up or its
// goroutines queue for it; wide, it tries one P again after a while (a
// try that queues doubles the wait).
func TestStepTries(t *testing.T) {
	var ticks []tick
	add := func(ts ...tick) { ticks = append(ticks, ts...) }
	add(tick{0.2, 0, false, false}, tick{0.89, 0.9, false, false})
	add(tick{0.95, 0, true, true}) // one P nearly used up: every core
	add(repeat(probeFirst-1, tick{0.7, 3, true, false})...)
	add(tick{1.3, 3, true, false}) // a try is due, but this tick used a whole core
	add(tick{0.7, 3, false, true}) // time to try one P
	add(tick{0.6, 2, true, true})  // goroutines queue: wide again
	add(repeat(2*probeFirst-1, tick{0.7, 0, true, false})...)
	add(tick{0.7, 0, false, true})    // the next try comes twice as late
	add(tick{0.6, 0.1, false, false}) // and holds: one P
	add(tick{0.3, 1.5, true, true})   // queueing: wide, the first wait again
	add(repeat(probeFirst-1, tick{0.7, 0, true, false})...)
	add(tick{0.7, 0, false, true})
	runTicks(t, &state{}, ticks)
}

// Tries that keep queueing wait at most probeMax; a calm spell goes back
// to one P before the next try is due.
func TestStepCalm(t *testing.T) {
	s := state{wait: probeMax, probing: true}
	ticks := []tick{{0.5, 2, true, true}} // the try queued: the wait stays at probeMax
	ticks = append(ticks, repeat(probeMax-1, tick{0.7, 0, true, false})...)
	ticks = append(ticks, tick{0.7, 0, false, true}, tick{0.7, 2, true, true})
	ticks = append(ticks, repeat(calmTicks-1, tick{0.3, 0, true, false})...)
	ticks = append(ticks, tick{0.3, 0, false, true}) // a whole calm spell: one P
	runTicks(t, &s, ticks)
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
