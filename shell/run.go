package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/shell/clientlib"
	"go.starlark.net/starlark"
)

func numCPU() int { return runtime.NumCPU() }

// RunFile runs a script; argv is what the script sees as argv (its path,
// then its arguments).
func (s *Shell) RunFile(ctx context.Context, path string, argv []string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	code := string(src)
	if strings.HasPrefix(code, "#!") {
		// Keep line numbers: blank the shebang line.
		if i := strings.IndexByte(code, '\n'); i >= 0 {
			code = code[i:]
		} else {
			code = ""
		}
	}
	vals := make([]starlark.Value, len(argv))
	for i, a := range argv {
		vals[i] = starlark.String(a)
	}
	s.ns.Set("argv", starlark.NewList(vals))
	return s.RunString(ctx, path, code)
}

// RunString runs a chunk of code in the shell's namespace. When ctx is
// done the code stops, whatever it is doing: blocking calls return and the
// Starlark thread is cancelled (so a pure loop ends too).
func (s *Shell) RunString(ctx context.Context, filename, code string) error {
	thread := s.newThread() // a cancelled thread stays cancelled
	s.thread = thread
	s.setContext(ctx)
	stop := context.AfterFunc(ctx, func() { thread.Cancel(cancelReason(ctx)) })
	defer stop()
	_, err := s.ns.Exec(thread, filename, code, false)
	return withHint(code, err)
}

// cancelReason is the message of a Starlark thread cancelled with ctx.
func cancelReason(ctx context.Context) string {
	var se *SignalError
	if errors.As(context.Cause(ctx), &se) && se.Signal == syscall.SIGTERM {
		return "terminated (SIGTERM)"
	}
	return "KeyboardInterrupt"
}

// interruptStatus reports an interrupted script or command and returns
// its exit status: 128 + the signal's number (130 for SIGINT, 143 for
// SIGTERM), 130 when the context was cancelled otherwise.
func interruptStatus(ctx context.Context, stderr io.Writer) int {
	var se *SignalError
	if errors.As(context.Cause(ctx), &se) && se.Signal == syscall.SIGTERM {
		fmt.Fprintln(stderr, "Terminated")
		return 128 + int(se.Signal)
	}
	fmt.Fprintln(stderr, "KeyboardInterrupt")
	return 130
}

// ErrorReport renders an uncaught error as the shell prints it: a remote
// error's header and the engine's traceback, a composite's summary, or the
// local Starlark backtrace.
func ErrorReport(err error) string { return errorReport(err, false) }

// errorReport is ErrorReport with optional colour.
func errorReport(err error, color bool) string {
	var ce *client.CompositeError
	var re *client.RemoteError
	if errors.As(err, &ce) || errors.As(err, &re) {
		return clientlib.ErrorReport(err, color)
	}
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return ee.Backtrace()
	}
	return err.Error()
}

// printError writes an error report to stderr.
func (s *Shell) printError(err error) {
	fmt.Fprintln(s.cfg.Stderr, strings.TrimRight(errorReport(err, s.color), "\n"))
}
