package shell

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/pxsh/pxsh/starlarklib/hostlib"
)

// Main runs the pxsh program with its command-line arguments (without the
// program name): `pxsh [flags]` (interactive), `pxsh [flags] -c CODE
// [ARGS]`, `pxsh [flags] run FILE [ARGS]`. It connects SIGINT and SIGTERM:
// in a script or command they stop it; in the interactive shell SIGINT
// interrupts the running input. It returns the exit status.
func Main(ctx context.Context, args []string, cfg Config) int {
	s0 := New(Config{Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr, NoConnect: true}) // for streams only
	fs := flag.NewFlagSet("pxsh", flag.ContinueOnError)
	fs.SetOutput(s0.cfg.Stderr)
	n := fs.Int("n", 0, "engines of a private cluster (default: CPU count)")
	prof := fs.String("profile", "", "use the cluster of profile `name`")
	file := fs.String("file", "", "use the cluster of connection `file`")
	code := fs.String("c", "", "run `code` and exit")
	allow := fs.String("allow", "", "start a private cluster whose engines get these host `capabilities`: sh, env, fs=ROOT:ROOT")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "run" {
		// Flags may also follow "run": pxsh run -n 4 FILE.
		if err := fs.Parse(rest[1:]); err != nil {
			return 2
		}
		rest = append([]string{"run"}, fs.Args()...)
	}
	cfg.Engines = *n
	if *allow != "" {
		if *prof != "" || *file != "" {
			fmt.Fprintln(s0.cfg.Stderr, "pxsh: --allow starts a private cluster; it cannot be used with --profile or --file (start that cluster with --allow)")
			return 2
		}
		if _, err := hostlib.ParseGrant(*allow); err != nil {
			fmt.Fprintf(s0.cfg.Stderr, "pxsh: --allow %q: %v\n", *allow, err)
			return 2
		}
		cfg.Allow = *allow
	}
	if *prof != "" {
		cfg.Profile, cfg.ProfileSet = *prof, true
	}
	if *file != "" {
		cfg.ConnectionFile = *file
	}
	interactive := false
	switch {
	case *code != "":
		cfg.Code, cfg.Args = *code, rest
	case len(rest) > 0 && rest[0] == "run":
		if len(rest) < 2 {
			fmt.Fprintln(s0.cfg.Stderr, "usage: pxsh run FILE [ARGS]")
			return 2
		}
		cfg.Script, cfg.Args = rest[1], rest[2:]
	case len(rest) > 0:
		fmt.Fprintf(s0.cfg.Stderr, "pxsh: unknown command %q (try: pxsh run FILE)\n", rest[0])
		return 2
	default:
		interactive = true
	}
	var stop context.CancelFunc
	if interactive {
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGHUP)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT)
		defer signal.Stop(sig)
		intr := make(chan struct{}, 1)
		go func() {
			for {
				select {
				case <-sig:
					select {
					case intr <- struct{}{}:
					default: // nothing running: the line editor handles Ctrl-C
					}
				case <-ctx.Done():
					return
				}
			}
		}()
		cfg.Interrupt = intr
	} else {
		ctx, stop = stopOnSignal(ctx, cfg.Stderr)
	}
	defer stop()
	s := New(cfg)
	defer s.Close()
	return s.Run(ctx)
}

// SignalError is the cause of a context cancelled by a signal; Run exits
// with 128 + its number (130 for SIGINT, 143 for SIGTERM).
type SignalError struct{ Signal syscall.Signal }

func (e *SignalError) Error() string { return "interrupted by " + e.Signal.String() }

// stopOnSignal returns a context cancelled, with a *SignalError cause, by
// the first SIGINT or SIGTERM. A second one ends the process at once (the
// private cluster's engines die with it: they have a parent-death signal).
func stopOnSignal(parent context.Context, stderr io.Writer) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first *SignalError
		for {
			select {
			case s := <-sig:
				n, _ := s.(syscall.Signal)
				if first != nil {
					if stderr != nil {
						fmt.Fprintln(stderr, "pxsh: second", n, "- exiting now")
					}
					os.Exit(128 + int(first.Signal))
				}
				first = &SignalError{Signal: n}
				cancel(first)
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sig)
		close(done)
		cancel(context.Canceled)
	}
}
