package shell_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pxsh/pxsh/program"
	"github.com/pxsh/pxsh/shell"
	"go.starlark.net/starlark"
)

// A Go tool runs a pxsh session with its own builtin and streams against a
// cluster it starts in-process.
func ExampleShell_Run() {
	session := `%px print("hello from", engine.id)
double(21)
rc[:].apply_sync(lambda: engine.id * 10)
`
	sh := shell.New(shell.Config{
		Stdin:  strings.NewReader(session),
		Stdout: os.Stdout, Stderr: os.Stdout,
		Builtins: starlark.StringDict{
			"double": starlark.NewBuiltin("double", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
				var n int
				if err := starlark.UnpackArgs(b.Name(), args, kw, "n", &n); err != nil {
					return nil, err
				}
				return starlark.MakeInt(2 * n), nil
			}),
		},
		StartPrivate: func(ctx context.Context, p shell.Private) (string, func(), error) {
			p.Engines, p.InProcess = 2, true
			return program.StartPrivate(ctx, p)
		},
		HistoryFile: "-",
	})
	defer sh.Close()
	sh.Run(context.Background())
	// Output:
	// [stdout:0] hello from 0
	// [stdout:1] hello from 1
	// 42
	// [0, 10]
}

// A Go tool runs a script with arguments; an uncaught error is printed as
// the shell prints it and makes the status 1.
func ExampleShell_Run_script() {
	sh := shell.New(shell.Config{
		Stdout: os.Stdout, Stderr: os.Stdout,
		Code: "print(argv)\nfail('stop here')",
		Args: []string{"a"},
	})
	defer sh.Close()
	fmt.Println("status", sh.Run(context.Background()))
	// Output:
	// ["-c", "a"]
	// Traceback (most recent call last):
	//   <command>:2:5: in <toplevel>
	// Error in fail: fail: stop here
	// status 1
}
