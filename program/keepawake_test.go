package program

import "testing"

// A program other than the pxsh binary (here the test binary) never
// runs itself as the spinner: its own main would run instead.
func TestKeepAwakeOnlyInPxshBinary(t *testing.T) {
	if c := keepAwakeCommand(); c != nil {
		t.Errorf("keepAwakeCommand() in a test binary = %q, want none", c)
	}
}
