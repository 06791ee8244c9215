package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTutorial runs the README's demo script (make demo) through the
// binary on a private cluster of 2 engines.
func TestTutorial(t *testing.T) {
	out, code := run(t, isolated(t), "", "run", "-n", "2", filepath.Join("..", "..", "examples", "tutorial.star"))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"[0, 1]\n",         // rc.ids
		"[27, 27]\n",       // apply with pushed globals
		"[(2, 2), (2, 2)]", // 1.12: arrays on the engines
		"[array([1., 3.]), array([1., 3.])]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
