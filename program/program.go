// Package program is pxsh's program layer: flags, signals and the
// dispatch of subcommands. Each subprogram takes its arguments and streams
// as parameters so that tests run it in-process. cmd/pxsh is one line over
// it.
//
// A Go program builds its own pxsh, with modules of its own predeclared on
// engines, in scripts and in the shell, by calling Main with options:
//
//	func main() {
//		os.Exit(program.Main(program.WithModule("sim", starlark.StringDict{
//			"kernel": starlark.NewBuiltin("kernel", kernel),
//		})))
//	}
//
// Every launcher starts engines from the running binary (os.Executable),
// so the engines of its clusters have the same modules. See
// docs/EMBEDDING.md.
package program

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Version is pxsh's version string.
const Version = "0.1.0"

// Option configures Main and Run.
type Option func(*options)

type options struct {
	modules starlark.StringDict // extra predeclared names
}

// WithModule predeclares a module called name, with members m, on the
// engines, in scripts and in the shell (as a struct-like module: name.x).
// The members must be safe to call from several goroutines when more than
// one shell thread may use them; on an engine they run one task at a
// time.
func WithModule(name string, m starlark.StringDict) Option {
	return WithGlobal(name, &starlarkstruct.Module{Name: name, Members: m})
}

// WithGlobal predeclares one name (a builtin or any value) on the
// engines, in scripts and in the shell.
func WithGlobal(name string, v starlark.Value) Option {
	return func(o *options) {
		if o.modules == nil {
			o.modules = starlark.StringDict{}
		}
		o.modules[name] = v
	}
}

// Main runs pxsh with the process's arguments and standard streams and
// returns the exit status, for main: os.Exit(program.Main(opts...)).
func Main(opts ...Option) int {
	isMain.Store(true)
	return Run(os.Args, os.Stdin, os.Stdout, os.Stderr, opts...)
}

// Run runs pxsh with args (args[0] is the program name) and returns the
// exit status.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer, opts ...Option) int {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	if len(args) > 1 && subcommand(args[1]) {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		return runSubcommand(ctx, args, stdin, stdout, stderr, o)
	}
	// The shell, scripts and commands handle SIGINT and SIGTERM themselves
	// (shell.Main): the exit status says which one stopped them.
	return shellMain(context.Background(), args[1:], stdin, stdout, stderr, o)
}

// subcommand reports whether name is a subcommand other than the shell.
func subcommand(name string) bool {
	switch name {
	case "controller", "engine", "cluster", "kernel", "profile", "dashboard", "top", "keepawake",
		"version", "--version", "help", "--help", "-h", "-help":
		return true
	}
	return false
}

// runSubcommand runs a subcommand other than the shell.
func runSubcommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, o *options) int {
	rest := args[2:]
	if dir := os.Getenv("PXSH_CPUPROFILE_DIR"); dir != "" {
		// For developers: every process of a benchmark writes its CPU
		// profile, stopped when the subcommand returns.
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.prof", args[1], os.Getpid()))
		if stop, err := startProfile(path); err == nil {
			defer stop()
		}
	}
	switch args[1] {
	case "controller":
		return controllerMain(ctx, rest, stderr)
	case "engine":
		return engineMain(ctx, rest, stdin, stderr, o)
	case "cluster":
		return clusterMain(ctx, rest, stdout, stderr)
	case "kernel":
		return kernelMain(ctx, rest, stdout, stderr, o)
	case "profile":
		return profileMain(ctx, rest, stdout, stderr)
	case "dashboard":
		return dashboardMain(rest, stdout, stderr)
	case "top":
		return topMain(ctx, rest, stdout, stderr)
	case "keepawake":
		return keepAwakeMain(stdin, stderr)
	case "help", "--help", "-h", "-help":
		return helpMain(rest, stdout, stderr)
	}
	fmt.Fprintln(stdout, "pxsh", Version)
	return 0
}

// Usage lists every subcommand (`pxsh help`, `pxsh --help`).
const Usage = `usage: pxsh [-n N] [--profile NAME] [--file CONNECTION_FILE]    interactive shell
       pxsh [flags] -c CODE [ARGS]                                run code and exit
       pxsh [flags] run FILE.star [ARGS]                          run a script

commands:
  run FILE [ARGS]        run a Starlark script (argv = [FILE, ARGS...])
  cluster start|engines|stop|list|clean
                         start and manage a cluster of a profile (pxsh cluster help)
  profile create|list|locate
                         manage profiles
  controller             run a controller (hub, schedulers, dashboard) in the foreground
  engine                 run an engine that connects to a controller
  kernel [install]       a Jupyter kernel (pxsh kernel install writes its kernelspec)
  dashboard              print the URL of the controller's web dashboard (--metrics: /metrics)
  top                    live engines and tasks in the terminal (--once: print once)
  keepawake              (started by a controller) keeps a processor awake while calls are in flight
  version                print pxsh's version
  help                   this text; pxsh COMMAND --help shows a command's flags

In the shell: help() and help(x) document any object, method or magic,
%lsmagic lists the magics. Docs: docs/STARLARK.md, docs/SHELL.md,
docs/LAUNCHERS.md, docs/DASHBOARD.md.
`

func helpMain(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stdout, "run `pxsh %s --help` for its flags\n\n", args[0])
	}
	fmt.Fprint(stdout, Usage)
	return 0
}

// getenv is the environment lookup the subprograms use.
func getenv(k string) string { return os.Getenv(k) }
