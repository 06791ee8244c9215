package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// scale is $PXSH_TEST_SCALE, the factor for time bounds on slow machines.
func scale() time.Duration {
	if n, err := strconv.Atoi(os.Getenv("PXSH_TEST_SCALE")); err == nil && n > 0 {
		return time.Duration(n)
	}
	return 1
}

// TestSweep builds this program and runs sweep.star with it on a private
// cluster of two engines: the engines, started from the same binary, run
// the Go kernel.
func TestSweep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute*scale())
	defer cancel()
	bin := filepath.Join(t.TempDir(), "pxsh-sim")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, bin, "run", "-n", "2", "sweep.star")
	// a profile directory of its own: never a running cluster of the user's
	cmd.Env = append(os.Environ(), "PXSH_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s run sweep.star: %v\n%s", bin, err, out)
	}
	want := "seeds: 8\npi ~ 3.14\nlocal: 3.2\nsame: True\n"
	if string(out) != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}
