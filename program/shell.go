package program

import (
	"context"
	"io"

	"github.com/pxsh/pxsh/gcpace"
	"github.com/pxsh/pxsh/procs"
	"github.com/pxsh/pxsh/shell"
)

// shellMain runs the shell, a script or code: a client process, whose
// processors the governor keeps at one while it passes small messages.
func shellMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, o *options) int {
	defer procs.Hold()()
	defer gcpace.Start()() // pulled values decode into large lists
	return shell.Main(ctx, args, shell.Config{
		Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv,
		Builtins:     o.modules,
		StartPrivate: StartPrivate,
	})
}
