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
		}
	}
	return shellMain(ctx, args[1:], stdin, stdout, stderr)
}

// getenv is the environment lookup the subprograms use.
func getenv(k string) string { return os.Getenv(k) }
