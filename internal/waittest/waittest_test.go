package waittest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestPollEndsWhenTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	if !Poll(time.Minute, func() bool { return calls.Add(1) == 3 }) {
		t.Fatal("Poll gave up on a condition that held at the third call")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
}

func TestPollGivesUpAfterItsBound(t *testing.T) {
	t.Setenv("PXSH_TEST_SCALE", "1")
	var calls atomic.Int32
	if Poll(30*time.Millisecond, func() bool { calls.Add(1); return false }) {
		t.Fatal("Poll reported a condition that never held")
	}
	if calls.Load() < 2 {
		t.Errorf("cond called %d times, want it checked again before giving up", calls.Load())
	}
}

// failing records Fatalf instead of ending the test.
type failing struct {
	testing.TB
	msg string
}

func (f *failing) Helper() {}
func (f *failing) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
}

func TestUntilSaysWhatItWaitedFor(t *testing.T) {
	t.Setenv("PXSH_TEST_SCALE", "2")
	f := &failing{TB: t}
	calls := 0
	Until(f, 10*time.Millisecond, func() bool { calls++; return false }, func() string { return fmt.Sprintf("x after %d calls", calls) })
	if want := fmt.Sprintf("timed out after 20ms waiting for x after %d calls", calls); f.msg != want {
		t.Errorf("message %q, want %q", f.msg, want)
	}
}

func TestScale(t *testing.T) {
	for env, want := range map[string]time.Duration{"": 1, "3": 3, "0": 1, "x": 1} {
		t.Setenv("PXSH_TEST_SCALE", env)
		if got := Scale(); got != want {
			t.Errorf("PXSH_TEST_SCALE=%q: %d, want %d", env, got, want)
		}
	}
}
