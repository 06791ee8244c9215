package hub

import (
	"context"
	"os"
	"runtime"
	"sync"
	"time"
)

// The controller's processors. A controller whose work is one chain of
// small messages (a client waiting on each call) is fastest with one P:
// every message wakes a goroutine, and with more Ps each wake-up also
// starts a spinning thread that competes with the engines for the cores
// (docs/PERFORMANCE.md, latency). A busy controller needs every core. So
// while a hub serves, a governor keeps the process at GOMAXPROCS=1 until
// it uses nearly a whole core, then gives it all of them, and goes back
// to one after a calm second. An explicit GOMAXPROCS in the environment
// turns the governor off.
const (
	procsTick   = 100 * time.Millisecond
	procsRaise  = 0.9 // cores used in one tick at one P: it needs more
	procsLower  = 0.8 // cores used in every tick of a calm spell: one P will do
	procsCalmed = 10  // ticks of a calm spell
)

// procsState decides the processor count from the CPU the process used.
type procsState struct {
	wide bool // all processors, not one
	calm int  // ticks in a row under procsLower while wide
}

// step takes the cores used over the last tick and reports whether the
// process should now run wide, and whether that is a change.
func (s *procsState) step(cores float64) (wide, changed bool) {
	switch {
	case !s.wide && cores >= procsRaise:
		s.wide, s.calm = true, 0
		return true, true
	case s.wide && cores < procsLower:
		if s.calm++; s.calm >= procsCalmed {
			s.wide, s.calm = false, 0
			return false, true
		}
	case s.wide:
		s.calm = 0
	}
	return s.wide, false
}

// procs is the process's one governor, shared by the hubs it serves.
var procs struct {
	mu    sync.Mutex
	users int
	stop  context.CancelFunc
	done  chan struct{}
}

// holdProcs starts the governor for the first hub of the process; the
// last release stops it and gives the runtime its default back.
func holdProcs() (release func()) {
	if os.Getenv("GOMAXPROCS") != "" || runtime.GOMAXPROCS(0) < 2 || cpuTime() < 0 {
		return func() {}
	}
	procs.mu.Lock()
	defer procs.mu.Unlock()
	if procs.users++; procs.users == 1 {
		ctx, cancel := context.WithCancel(context.Background())
		procs.stop, procs.done = cancel, make(chan struct{})
		go governProcs(ctx, runtime.GOMAXPROCS(1), procs.done)
	}
	return sync.OnceFunc(func() {
		procs.mu.Lock()
		defer procs.mu.Unlock()
		if procs.users--; procs.users == 0 {
			procs.stop()
			<-procs.done
			runtime.SetDefaultGOMAXPROCS()
		}
	})
}

// governProcs switches between one and wide processors until ctx ends.
func governProcs(ctx context.Context, wide int, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(procsTick)
	defer t.Stop()
	var s procsState
	last, lastAt := cpuTime(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		used, now := cpuTime(), time.Now()
		cores := float64(used-last) / float64(now.Sub(lastAt))
		last, lastAt = used, now
		if w, changed := s.step(cores); changed {
			n := 1
			if w {
				n = wide
			}
			runtime.GOMAXPROCS(n)
		}
	}
}
