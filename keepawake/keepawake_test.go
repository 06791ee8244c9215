//go:build linux

package keepawake

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/internal/waittest"
)

// TestMain runs the spinner when this test binary is started as one.
func TestMain(m *testing.M) {
	if os.Getenv("KEEPAWAKE_TEST_SPINNER") == "1" {
		if err := Spin(os.NewFile(3, "page"), os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startSpinner(t *testing.T) *Waker {
	t.Helper()
	t.Setenv("KEEPAWAKE_TEST_SPINNER", "1")
	w, err := Start(os.Args[0], "-test.run=^$")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// threads returns the state letter and scheduling policy of each of
// pid's threads (/proc/PID/task/TID/stat: fields 3 and 41).
func threads(pid int) (states string, policies []int) {
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 on
		if len(f) < 39 {
			continue
		}
		states += f[0]
		p, _ := strconv.Atoi(f[38])
		policies = append(policies, p)
	}
	return states, policies
}

// The spinner spins at SCHED_IDLE while pokes come, sleeps once they
// stop, wakes at the next poke, and exits when its Waker closes.
func TestSpinnerSpinsSleepsWakesAndExits(t *testing.T) {
	w := startSpinner(t)
	pid := w.cmd.Process.Pid
	d := 10 * time.Second * waittest.Scale()
	idle := func() bool {
		_, pol := threads(pid)
		for _, p := range pol {
			if p == 5 { // SCHED_IDLE
				return true
			}
		}
		return false
	}
	waittest.For(t, d, "a thread of the spinner at SCHED_IDLE", idle)
	asleep := func() bool { st, _ := threads(pid); return st != "" && !strings.Contains(st, "R") }
	waittest.For(t, d, "the spinner asleep without pokes", asleep)
	spinning := func() bool { w.Poke(); st, _ := threads(pid); return strings.Contains(st, "R") }
	waittest.For(t, d, "the spinner running after a poke", spinning)
	waittest.For(t, d, "the spinner asleep again after the pokes stopped", asleep)
	if err := w.Close(); err != nil {
		t.Fatalf("spinner exit: %v", err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if st, _ := threads(pid); st != "" && !strings.Contains(st, "Z") {
			t.Errorf("spinner still there after Close: %q", st)
		}
	}
}

// A nil Waker (no spinner) pokes and closes as a no-op.
func TestNilWaker(t *testing.T) {
	var w *Waker
	w.Poke()
	if err := w.Close(); err != nil {
		t.Error(err)
	}
}

// A spinner that cannot start is an error, not a hang.
func TestStartMissingBinary(t *testing.T) {
	if _, err := Start(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing spinner binary started")
	}
}

// Spin without a shared page (run by hand) says so instead of mapping
// whatever descriptor 3 is.
func TestSpinWithoutPage(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Spin(f, strings.NewReader("")); err == nil || !strings.Contains(err.Error(), "started by a controller") {
		t.Errorf("got %v", err)
	}
}
