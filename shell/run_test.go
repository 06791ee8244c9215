package shell_test

import (
	"context"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/shell"
)

// TestRunStringCancelsLoop cancels a script's context while it runs a pure
// Starlark loop: RunString returns, and the shell runs code again.
func TestRunStringCancelsLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out strings.Builder
	s := shell.New(shell.Config{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, NoConnect: true,
		Builtins: starlark.StringDict{"interrupt": starlark.NewBuiltin("interrupt", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			cancel()
			return starlark.None, nil
		})},
	})
	defer s.Close()
	err := s.RunString(ctx, "loop.star", "n = 0\ninterrupt()\nwhile True:\n    n += 1\n")
	if err == nil || !strings.Contains(err.Error(), "KeyboardInterrupt") {
		t.Fatalf("RunString = %v, want a KeyboardInterrupt cancellation", err)
	}
	if err := s.RunString(context.Background(), "after.star", "print(n >= 0)\n"); err != nil {
		t.Fatalf("after a cancellation: %v", err)
	}
	if got := out.String(); got != "True\n" {
		t.Errorf("printed %q, want %q", got, "True\n")
	}
}
