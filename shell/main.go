package shell

import (
	"context"
	"flag"
	"fmt"
	"os/signal"
	"syscall"
)

// Main runs the pxsh program with its command-line arguments (without the
// program name): `pxsh [flags]` (interactive), `pxsh [flags] -c CODE`,
// `pxsh [flags] run FILE [ARGS]`. It returns the exit status.
func Main(ctx context.Context, args []string, cfg Config) int {
	s0 := New(cfg) // for streams only
	fs := flag.NewFlagSet("pxsh", flag.ContinueOnError)
	fs.SetOutput(s0.cfg.Stderr)
	n := fs.Int("n", 0, "engines of a private cluster (default: CPU count)")
	prof := fs.String("profile", "", "use the cluster of profile `name`")
	file := fs.String("file", "", "use the cluster of connection `file`")
	code := fs.String("c", "", "run `code` and exit")
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
	if *prof != "" {
		cfg.Profile, cfg.ProfileSet = *prof, true
	}
	if *file != "" {
		cfg.ConnectionFile = *file
	}
	s := New(cfg)
	defer s.Close()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case *code != "":
		s.ns.Set("argv", starlarkList(append([]string{"-c"}, rest...)))
		err = s.RunString(ctx, "<command>", *code)
	case len(rest) > 0 && rest[0] == "run":
		if len(rest) < 2 {
			fmt.Fprintln(s.cfg.Stderr, "usage: pxsh run FILE [ARGS]")
			return 2
		}
		err = s.RunFile(ctx, rest[1], rest[1:])
	case len(rest) > 0:
		fmt.Fprintf(s.cfg.Stderr, "pxsh: unknown command %q (try: pxsh run FILE)\n", rest[0])
		return 2
	default:
		stop() // the interactive shell handles Ctrl-C itself
		return s.Interact(ctx)
	}
	if err != nil {
		s.printError(err)
		return 1
	}
	return 0
}
