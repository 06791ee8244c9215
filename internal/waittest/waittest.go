// Package waittest lets tests wait for a condition with a deadline
// instead of sleeping: the one polling loop of pxsh's tests. It imports
// nothing of pxsh, so any package's tests may use it.
package waittest

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Scale returns the factor applied to test time bounds: $PXSH_TEST_SCALE,
// default 1.
func Scale() time.Duration {
	if n, err := strconv.Atoi(os.Getenv("PXSH_TEST_SCALE")); err == nil && n > 0 {
		return time.Duration(n)
	}
	return 1
}

// Poll calls cond until it returns true or d (scaled) has passed, and
// reports whether it held. Between calls it sleeps a tenth of the time
// waited so far, at least 1 ms and at most 20 ms: a short wait ends
// promptly and a long one costs little. It does not fail the test, so a
// goroutine other than the test's may call it.
func Poll(d time.Duration, cond func() bool) bool {
	start := time.Now()
	deadline := start.Add(d * Scale())
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(min(max(time.Since(start)/10, time.Millisecond), 20*time.Millisecond)) // polling, bounded by the deadline
	}
	return true
}

// Until polls cond as Poll does; when d (scaled) passes first it fails t
// with "timed out after D waiting for " and what failure says of the
// state then.
func Until(t testing.TB, d time.Duration, cond func() bool, failure func() string) {
	t.Helper()
	if !Poll(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d*Scale(), failure())
	}
}

// For is Until with a fixed description of what is awaited.
func For(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	Until(t, d, cond, func() string { return what })
}
