// Package procs governs the process's processor count (GOMAXPROCS) for
// pxsh's processes that pass small messages: a controller, a client.
//
// A process whose work is one chain of small messages (a client waiting
// on each call, a controller forwarding it) is fastest with one P: every
// message wakes a goroutine, and with more Ps each wake-up also starts a
// spinning thread that competes with the other processes for the cores
// (docs/PERFORMANCE.md, latency). A busy process needs every core. So
// while a holder runs, a governor keeps the process at GOMAXPROCS=1 until
// it nearly uses a whole core or its goroutines queue for the P, then
// gives it all of them (see state for the way back). An explicit
// GOMAXPROCS in the environment turns the governor off.
package procs

import (
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

const (
	tickEvery  = 25 * time.Millisecond
	raiseAt    = 0.9  // cores used in a tick at one P: it needs more
	queueAt    = 1.0  // goroutines waiting for the P, on average over a tick: likewise
	idleBelow  = 0.5  // cores used in each tick of a calm spell: one P will do
	calmTicks  = 40   // ticks of a calm spell (1 s)
	probeFirst = 10   // ticks wide before trying one P again (250 ms)
	probeMax   = 1280 // the longest wait between tries (32 s)
)

// state decides the processor count from what the process did in each
// tick. At one P, a process that nearly uses a core, or whose goroutines
// queue for the P (several connections busy at once, or a goroutine
// blocked in a system call holding it), goes wide at once. Wide, it goes
// back to one P after a calm spell, or to try one P again after a while
// in a tick that used less than a core: a try that the next tick shows
// queueing doubles the wait before the next one.
type state struct {
	wide    bool
	calm    int  // ticks in a row under idleBelow while wide
	ticks   int  // ticks since going wide
	wait    int  // ticks wide before the next try of one P
	probing bool // one P is being tried
}

// step takes the cores used and the goroutines waiting for a P (on
// average) over the last tick, and reports whether the process should
// now run wide, and whether that is a change.
func (s *state) step(cores, queued float64) (wide, changed bool) {
	if !s.wide {
		busy := cores >= raiseAt || queued >= queueAt
		switch {
		case busy && s.probing:
			s.wait = min(2*s.wait, probeMax)
		case busy:
			s.wait = probeFirst
		}
		s.probing = false
		if !busy {
			return false, false
		}
		s.wide, s.calm, s.ticks = true, 0, 0
		return true, true
	}
	s.ticks++
	if cores < idleBelow {
		s.calm++
	} else {
		s.calm = 0
	}
	switch {
	case s.calm >= calmTicks:
		s.wide = false
		return false, true
	case s.ticks >= s.wait && cores < raiseAt:
		s.wide, s.probing = false, true
		return false, true
	}
	return true, false
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
	var w waits
	w.sample()
	last, lastAt := cpuTime(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		used, now := cpuTime(), time.Now()
		d := float64(now.Sub(lastAt))
		cores := float64(used-last) / d
		queued := w.sample() / d
		last, lastAt = used, now
		if goWide, changed := s.step(cores, queued); changed {
			n := 1
			if goWide {
				n = wide
			}
			runtime.GOMAXPROCS(n)
		}
	}
}

// waits reads the time goroutines spent runnable, waiting for a P.
type waits struct {
	s    []metrics.Sample
	last []uint64
}

// sample returns the nanoseconds goroutines waited since the last call,
// estimated from the runtime's sampled histogram.
func (w *waits) sample() float64 {
	if w.s == nil {
		w.s = []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	}
	metrics.Read(w.s)
	if w.s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := w.s[0].Value.Float64Histogram()
	var total float64
	for i, c := range h.Counts {
		if i < len(w.last) && c > w.last[i] && h.Buckets[i] > 0 {
			total += float64(c-w.last[i]) * h.Buckets[i]
		}
	}
	w.last = append(w.last[:0], h.Counts...)
	return total * trackingPeriod * 1e9
}

// trackingPeriod is how many scheduling events the runtime's latency
// histogram counts one of.
const trackingPeriod = 8
