// Command embed shows how a Go tool embeds the pxsh shell: it starts a
// cluster in its own process (a controller and two engines, no other
// program needed), adds a builtin of its own, and runs a pxsh session on
// its own streams. With -i it is interactive on the terminal; otherwise it
// runs a short demo session that uses the builtin and %px.
//
//	go run ./examples/embed
package main

import (
	"context"
	"flag"
	"io"
	"os"
	"strings"

	"github.com/pxsh/pxsh/program"
	"github.com/pxsh/pxsh/shell"
	"go.starlark.net/starlark"
)

// demo is the session run without -i.
const demo = `print(tool_name())
%px x = engine.id * 100
%px print("engine", engine.id, "has", x)
dv = rc[:]
dv.block = True
dv.apply(lambda y: x + y, 1)
`

func main() {
	interactive := flag.Bool("i", false, "run the interactive shell on the terminal")
	flag.Parse()
	var in io.Reader = strings.NewReader(demo)
	if *interactive {
		in = os.Stdin
	}
	os.Exit(run(context.Background(), in, os.Stdout, os.Stderr))
}

// run runs a shell session over in with a cluster of two in-process
// engines and returns its exit status.
func run(ctx context.Context, in io.Reader, out, errw io.Writer) int {
	sh := shell.New(shell.Config{
		Stdin: in, Stdout: out, Stderr: errw,
		Builtins: starlark.StringDict{
			"tool_name": starlark.NewBuiltin("tool_name", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
				return starlark.String("embedded in the embed example"), nil
			}),
		},
		Engines: 2,
		// The one private-cluster builder, with its engines in-process.
		StartPrivate: func(ctx context.Context, p shell.Private) (string, func(), error) {
			p.InProcess = true
			return program.StartPrivate(ctx, p)
		},
		HistoryFile: "-",
		Getenv:      func(string) string { return "" },
	})
	defer sh.Close()
	return sh.Run(ctx)
}
