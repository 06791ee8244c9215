// Package keepawake keeps one processor awake while requests are in
// flight. On a virtual machine an idle processor halts, and waking it
// for the next message of a round trip costs tens of microseconds, more
// than the rest of a small call's path (docs/PERFORMANCE.md, "Idle
// processors"). A Waker starts a child process whose one thread spins at
// the SCHED_IDLE policy for a short linger after each Poke: the kernel
// runs it only on a processor that has nothing else to run, so it never
// takes time from work, and a processor running it is woken at once.
// After the linger it sleeps on a futex until the next Poke.
package keepawake

import (
	"errors"
	"time"
)

// Linger is how long the spinner spins after the last Poke.
const Linger = 2 * time.Millisecond

// ErrUnsupported says this system has no spinner.
var ErrUnsupported = errors.New("keepawake: not supported on this system")

// The shared page's words, 4-byte aligned.
const (
	wordPokes  = 0 // incremented by each Poke
	wordAsleep = 1 // 1 while the spinner sleeps (or is about to)
	wordSeq    = 2 // the futex word the spinner sleeps on
	pageSize   = 4096
)
