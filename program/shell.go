package program

import (
	"context"
	"io"

	"github.com/pxsh/pxsh/shell"
)

func shellMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, o *options) int {
	return shell.Main(ctx, args, shell.Config{
		Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv,
		Builtins:     o.modules,
		StartPrivate: StartPrivate,
	})
}
