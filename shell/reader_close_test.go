package shell

import (
	"errors"
	"testing"
	"time"
)

// A line editor whose close never returns (its input goroutine blocked in
// a read of the terminal) does not hang the shell's exit: the terminal is
// restored instead.
func TestCloseWithinRestoresWhenCloseHangs(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	restored := false
	err := closeWithin(func() error { <-block; return nil }, func() error { restored = true; return nil }, time.Millisecond)
	if err != nil || !restored {
		t.Errorf("close that hangs: err %v, restored %v", err, restored)
	}
}

// A close that returns is waited for, its error kept, nothing restored
// twice.
func TestCloseWithinWaitsForClose(t *testing.T) {
	want := errors.New("closed")
	restored := false
	err := closeWithin(func() error { return want }, func() error { restored = true; return nil }, time.Hour)
	if err != want || restored {
		t.Errorf("close that returns: err %v, restored %v", err, restored)
	}
}
