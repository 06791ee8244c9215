package scheduler

import (
	"errors"
	"testing"
)

// scripted returns a Rand that yields vals in turn (modulo n).
func scripted(vals ...int) func(int) int {
	i := 0
	return func(n int) int {
		v := vals[i%len(vals)]
		i++
		return v % n
	}
}

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Policy
	}{
		{"", LeastLoad}, {"leastload", LeastLoad}, {"LRU", LRU}, {" weighted ", Weighted},
		{"plainrandom", PlainRandom}, {"twobin", TwoBin},
	} {
		got, err := ParsePolicy(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParsePolicy(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"pure", "least", "x"} {
		if _, err := ParsePolicy(bad); !errors.Is(err, ErrUnknownPolicy) {
			t.Errorf("ParsePolicy(%q) error = %v, want ErrUnknownPolicy", bad, err)
		}
	}
}

func TestPolicyTables(t *testing.T) {
	c := []engineState{{id: 0, load: 2, last: 5}, {id: 1, load: 1, last: 9}, {id: 2, load: 1, last: 3}, {id: 3, load: 3, last: 0}}
	for _, tc := range []struct {
		name string
		p    Policy
		rnd  func(int) int
		c    []engineState
		want int
	}{
		{"leastload fewest", LeastLoad, nil, c, 2},
		{"leastload tie lru", LeastLoad, nil, []engineState{{id: 0, load: 1, last: 4}, {id: 1, load: 1, last: 2}}, 1},
		{"leastload tie id", LeastLoad, nil, []engineState{{id: 4, load: 0}, {id: 2, load: 0}}, 1},
		{"leastload single", LeastLoad, nil, c[:1], 0},
		{"lru", LRU, nil, c, 3},
		{"lru tie id", LRU, nil, []engineState{{id: 5, last: 1}, {id: 3, last: 1}}, 1},
		{"plainrandom", PlainRandom, scripted(2), c, 2},
		{"plainrandom wrap", PlainRandom, scripted(5), c, 1},
		{"twobin first older", TwoBin, scripted(3, 0), c, 3},
		{"twobin second older", TwoBin, scripted(1, 2), c, 2},
		{"twobin same", TwoBin, scripted(1, 1), c, 1},
		// weights ~1e6 for load 0, 1 for load 1: draws near 0 hit engine 0.
		{"weighted idle wins", Weighted, scripted(0, randRes-1), []engineState{{id: 0, load: 0}, {id: 1, load: 1}}, 0},
		{"weighted less loaded of two", Weighted, scripted(randRes-1, 0), []engineState{{id: 0, load: 1}, {id: 1, load: 3}}, 0},
		{"weighted equal keeps first", Weighted, scripted(0, randRes-1), []engineState{{id: 0, load: 2}, {id: 1, load: 2}}, 0},
	} {
		rnd := tc.rnd
		if rnd == nil {
			rnd = func(int) int { panic("rand used") }
		}
		if got := choose(tc.p, tc.c, rnd); got != tc.want {
			t.Errorf("%s: choose = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestPolicyExhaustive checks leastload and lru against their definitions on
// every combination of loads 0..2 and last-use 0..2 over three engines, and
// that the random policies always return a valid index.
func TestPolicyExhaustive(t *testing.T) {
	c := make([]engineState, 3)
	for code := 0; code < 729; code++ {
		x := code
		for i := range c {
			c[i] = engineState{id: 10 - i, load: x % 3, last: uint64(x / 3 % 3)}
			x /= 9
		}
		ll, lru := choose(LeastLoad, c, nil), choose(LRU, c, nil)
		for i, e := range c {
			if e.load < c[ll].load || e.load == c[ll].load && (e.last < c[ll].last || e.last == c[ll].last && e.id < c[ll].id) {
				t.Fatalf("%v: leastload chose %d, %d is better", c, ll, i)
			}
			if e.last < c[lru].last || e.last == c[lru].last && e.id < c[lru].id {
				t.Fatalf("%v: lru chose %d, %d is better", c, lru, i)
			}
		}
		for _, p := range []Policy{PlainRandom, TwoBin, Weighted} {
			for r := range 4 {
				got := choose(p, c, scripted(r*7919, r*104729+randRes/2))
				if got < 0 || got >= len(c) {
					t.Fatalf("%s on %v: index %d", p, c, got)
				}
			}
		}
	}
}

// TestWeightedDistribution checks that weighted prefers idle engines.
func TestWeightedDistribution(t *testing.T) {
	s := New(Config{})
	c := []engineState{{id: 0, load: 0}, {id: 1, load: 4}, {id: 2, load: 4}}
	hits := 0
	for range 1000 {
		if choose(Weighted, c, s.rnd) == 0 {
			hits++
		}
	}
	if hits < 990 {
		t.Errorf("idle engine chosen %d/1000 times, want nearly all", hits)
	}
	c = []engineState{{id: 0, load: 1}, {id: 1, load: 3}}
	hits = 0
	for range 1000 {
		if choose(Weighted, c, s.rnd) == 0 {
			hits++
		}
	}
	// P(pick 0) = 1 - P(both draws 1) = 1 - (1/4)^2 = 0.9375.
	if hits < 880 || hits > 980 {
		t.Errorf("less loaded engine chosen %d/1000 times, want about 937", hits)
	}
}
