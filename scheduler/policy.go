package scheduler

import (
	"fmt"
	"strings"
)

// Policy names a load-balancing scheme (ipyparallel's scheme_name).
type Policy string

// The supported policies.
const (
	LeastLoad   Policy = "leastload"
	LRU         Policy = "lru"
	Weighted    Policy = "weighted"
	PlainRandom Policy = "plainrandom"
	TwoBin      Policy = "twobin"
)

// ParsePolicy returns the Policy named s (case-insensitive); "" means
// LeastLoad.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return LeastLoad, nil
	case LeastLoad, LRU, Weighted, PlainRandom, TwoBin:
		return p, nil
	}
	return "", fmt.Errorf("parse policy %q: %w (want leastload, lru, weighted, plainrandom or twobin)", s, ErrUnknownPolicy)
}

// engineState is what a policy sees of a candidate engine.
type engineState struct {
	id   int
	load int    // outstanding tasks
	last uint64 // assignment sequence number of its last task; 0 = never
}

// lessRecent reports whether a was assigned less recently than b, lower id
// first on a tie.
func lessRecent(a, b engineState) bool {
	if a.last != b.last {
		return a.last < b.last
	}
	return a.id < b.id
}

// choose returns the index in c (non-empty) of the engine p picks.
func choose(p Policy, c []engineState, rnd func(int) int) int {
	if len(c) == 1 {
		return 0
	}
	switch p {
	case LRU:
		return pickLRU(c)
	case PlainRandom:
		return rnd(len(c))
	case TwoBin:
		return pickTwoBin(c, rnd)
	case Weighted:
		return pickWeighted(c, rnd)
	default:
		return pickLeastLoad(c)
	}
}

func pickLeastLoad(c []engineState) int {
	best := 0
	for i := 1; i < len(c); i++ {
		if c[i].load < c[best].load || c[i].load == c[best].load && lessRecent(c[i], c[best]) {
			best = i
		}
	}
	return best
}

func pickLRU(c []engineState) int {
	best := 0
	for i := 1; i < len(c); i++ {
		if lessRecent(c[i], c[best]) {
			best = i
		}
	}
	return best
}

func pickTwoBin(c []engineState, rnd func(int) int) int {
	a, b := rnd(len(c)), rnd(len(c))
	if lessRecent(c[b], c[a]) {
		return b
	}
	return a
}

func weight(load int) float64 { return 1 / (float64(load) + 1e-6) }

const randRes = 1 << 30

func pickWeighted(c []engineState, rnd func(int) int) int {
	total := 0.0
	for _, e := range c {
		total += weight(e.load)
	}
	draw := func() int {
		x := float64(rnd(randRes)) / randRes * total
		for i, e := range c {
			x -= weight(e.load)
			if x < 0 {
				return i
			}
		}
		return len(c) - 1
	}
	a, b := draw(), draw()
	if c[b].load < c[a].load {
		return b
	}
	return a
}
