// Package program is pxsh's program layer: flags, signals and the
// dispatch of subcommands. Each subprogram takes its arguments and streams
// as parameters so that tests run it in-process. cmd/pxsh is one line over
// it.
package program

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Version is pxsh's version string.
const Version = "0.1.0"

// Run runs pxsh with args (args[0] is the program name) and returns the
// exit status.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if len(args) > 1 {
		rest := args[2:]
		switch args[1] {
		case "controller":
			return controllerMain(ctx, rest, stderr)
		case "engine":
			return engineMain(ctx, rest, stdin, stderr)
		case "cluster":
			return clusterMain(ctx, rest, stdout, stderr)
		case "profile":
			return profileMain(ctx, rest, stdout, stderr)
		case "dashboard":
			return dashboardMain(rest, stdout, stderr)
		case "top":
			return topMain(ctx, rest, stdout, stderr)
		case "version", "--version":
			fmt.Fprintln(stdout, "pxsh", Version)
			return 0
		case "help", "--help", "-h", "-help":
			return helpMain(rest, stdout, stderr)
		}
	}
	return shellMain(ctx, args[1:], stdin, stdout, stderr)
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
  dashboard              print the URL of the controller's web dashboard (--metrics: /metrics)
  top                    live engines and tasks in the terminal (--once: print once)
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
