// Package clientlib is the Starlark face of the pxsh client: the Client()
// builtin, direct and load-balanced views, the executor, AsyncResults
// (also AsyncMapResult and AsyncHubResult), the hub's task database
// methods, Reference and catch. The shell, scripts and embedding programs predeclare Builtins.
//
// It imports client and starlarklib; never hub, engine or shell.
package clientlib

import (
	"context"
	"io"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

// Env is what the builtins need from their host. Fields are read-only
// after Builtins is called.
type Env struct {
	// NS is the client's namespace: functions defined in it can be sent.
	NS *starlarklib.Namespace
	// Connect returns a client for Client(profile=, file=); an empty
	// profile and file mean the host's current cluster.
	Connect func(ctx context.Context, profile, file string, timeout time.Duration) (*client.Client, error)
	// Stdout receives what the builtins print (sync_imports, outputs).
	Stdout io.Writer
	// Context is the context of blocking calls; nil means Background.
	// The shell cancels it on Ctrl-C.
	Context func() context.Context
	// Activate registers %px magics for a view (view.activate(suffix));
	// nil means magics are not available (scripts).
	Activate func(v *DirectView, suffix string) error
	// Terminal says Stdout is a terminal: progress bars and colour.
	Terminal bool
	// Blocked, when set, is called with the AsyncResult of each blocking
	// call once it finished (the shell's %timeline).
	Blocked func(ar *AsyncResult)
}

func (e *Env) ctx() context.Context {
	if e.Context == nil {
		return context.Background()
	}
	return e.Context()
}

// Builtins returns the predeclared names clientlib provides.
func Builtins(env *Env) starlark.StringDict {
	return starlark.StringDict{
		"Client":    starlark.NewBuiltin("Client", env.newClient),
		"Reference": starlarklib.ReferenceBuiltin(),
		"catch":     starlarklib.CatchBuiltin(errorValue),
	}
}

// namedError is a client-side error with an ipyparallel class name
// (TimeoutError, ...).
type namedError struct{ name, msg string }

func (e *namedError) Error() string { return e.name + ": " + e.msg }

// ErrTimeout is the error of a get() that ran out of time.
var errNotReady = &namedError{"TimeoutError", "Result not ready."}

// stdout is where builtins print: Env.Stdout, or nowhere.
func (e *Env) stdout(*starlark.Thread) io.Writer {
	if e.Stdout == nil {
		return io.Discard
	}
	return e.Stdout
}
