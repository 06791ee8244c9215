// Package procs governs the process's processor count (GOMAXPROCS) for
// pxsh's processes that pass small messages: a controller, a client.
//
// A process whose work is one chain of small messages (a client waiting
// on each call, a controller forwarding it) is fastest with one P: every
// message wakes a goroutine, and with more Ps each wake-up also starts a
// spinning thread that competes with the other processes for the cores
// (docs/PERFORMANCE.md, latency). A busy process needs every core. So
// while a holder runs, a governor keeps the process at GOMAXPROCS=1 until
// it uses nearly a whole core, then gives it all of them, and goes back to
// one after a calm second. An explicit GOMAXPROCS in the environment turns
// the governor off.
package procs

import (
	"context"
	"os"
	"runtime"
	"sync"
	"time"
)

const (
	tickEvery = 100 * time.Millisecond
	raiseAt   = 0.9 // cores used in one tick at one P: it needs more
	lowerAt   = 0.8 // cores used in every tick of a calm spell: one P will do
	calmTicks = 10  // ticks of a calm spell
)

// state decides the processor count from the CPU the process used.
type state struct {
	wide bool // all processors, not one
	calm int  // ticks in a row under lowerAt while wide
}

// step takes the cores used over the last tick and reports whether the
// process should now run wide, and whether that is a change.
func (s *state) step(cores float64) (wide, changed bool) {
	switch {
	case !s.wide && cores >= raiseAt:
		s.wide, s.calm = true, 0
		return true, true
	case s.wide && cores < lowerAt:
		if s.calm++; s.calm >= calmTicks {
			s.wide, s.calm = false, 0
			return false, true
		}
	case s.wide:
		s.calm = 0
	}
	return s.wide, false
}

// gov is the process's one governor, shared by its holders.
var gov struct {
	mu    sync.Mutex
	users int
	stop  context.CancelFunc
	done  chan struct{}
}

// Hold starts the governor for the process's first holder; the last
// release stops it and gives the runtime its default back.
func Hold() (release func()) {
	if os.Getenv("GOMAXPROCS") != "" || cpuTime() < 0 {
		return func() {}
	}
	gov.mu.Lock()
	defer gov.mu.Unlock()
	if gov.users == 0 {
		wide := runtime.GOMAXPROCS(0)
		if wide < 2 {
			return func() {}
		}
		ctx, cancel := context.WithCancel(context.Background())
		gov.stop, gov.done = cancel, make(chan struct{})
		runtime.GOMAXPROCS(1)
		go govern(ctx, wide, gov.done)
	}
	gov.users++
	return sync.OnceFunc(func() {
		gov.mu.Lock()
		defer gov.mu.Unlock()
		if gov.users--; gov.users == 0 {
			gov.stop()
			<-gov.done
			runtime.SetDefaultGOMAXPROCS()
		}
	})
}

// govern switches between one and wide processors until ctx ends.
func govern(ctx context.Context, wide int, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	var s state
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
