package program

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pxsh/pxsh/gcpace"
	"github.com/pxsh/pxsh/kernel"
	"github.com/pxsh/pxsh/procs"
	"github.com/pxsh/pxsh/shell"
	"github.com/pxsh/pxsh/starlarklib/hostlib"
)

// kernelMain serves `pxsh kernel -f CONNECTION_FILE [-n N | --profile
// NAME | --file CONN]` (a Jupyter kernel) and `pxsh kernel install`.
func kernelMain(ctx context.Context, args []string, stdout, stderr io.Writer, o *options) int {
	if len(args) > 0 && args[0] == "install" {
		return kernelInstall(args[1:], stdout, stderr)
	}
	defer procs.Hold()() // a client process, as the shell's
	defer gcpace.Start()()
	fs := flag.NewFlagSet("pxsh kernel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	connFile := fs.String("f", "", "Jupyter connection `file` (Jupyter passes it)")
	n := fs.Int("n", 0, "engines of the notebook's private cluster (default: CPU count)")
	prof := fs.String("profile", "", "join the running cluster of profile `name`")
	file := fs.String("file", "", "join the cluster of pxsh connection `file`")
	allow := fs.String("allow", "", "the private cluster's engines get these host `capabilities`: sh, env, fs=ROOT:ROOT")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *connFile == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: pxsh kernel -f CONNECTION_FILE [-n N] [--allow CAPS] [--profile NAME | --file CONN]\n       pxsh kernel install [--user] [--prefix DIR] [--name NAME] [--display-name TEXT] [--profile NAME | -n N] [--allow CAPS]")
		return 2
	}
	conn, err := kernel.ReadConnectionFile(*connFile)
	if err != nil {
		fmt.Fprintln(stderr, "pxsh kernel:", err)
		return 1
	}
	cfg := shell.Config{Getenv: getenv, StartPrivate: StartPrivate, Engines: *n, ConnectionFile: *file,
		Allow: *allow, PrivateOnly: *n > 0, Builtins: o.modules, Version: Version}
	if *prof != "" {
		cfg.Profile, cfg.ProfileSet = *prof, true
	}
	k, err := kernel.New(kernel.Config{Connection: conn, Shell: cfg, Log: stderr, Version: Version})
	if err != nil {
		fmt.Fprintln(stderr, "pxsh kernel:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go watchParent(ctx, cancel)
	// SIGINT (Jupyter's interrupt in signal mode) interrupts the running
	// cell instead of ending the kernel.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT)
	defer signal.Stop(sig)
	go func() {
		for {
			select {
			case <-sig:
				k.Interrupt()
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := k.Serve(ctx); err != nil {
		fmt.Fprintln(stderr, "pxsh kernel:", err)
		return 1
	}
	return 0
}

// kernelInstall writes the kernelspec that starts this binary.
func kernelInstall(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pxsh kernel install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.Bool("user", false, "install for this user (default: system-wide)")
	prefix := fs.String("prefix", "", "install under `dir`/share/jupyter/kernels")
	name := fs.String("name", "", "kernelspec `name` (default: pxsh, or pxsh-PROFILE)")
	display := fs.String("display-name", "", "the `name` notebooks show (default: pxsh (Starlark), or with the profile)")
	prof := fs.String("profile", "", "the kernel joins the running cluster of profile `name`")
	n := fs.Int("n", 0, "each notebook starts a private cluster of `N` engines")
	allow := fs.String("allow", "", "the private clusters' engines get these host `capabilities`: sh, env, fs=ROOT:ROOT")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pxsh kernel install: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *prof != "" && (*n > 0 || *allow != "") {
		fmt.Fprintln(stderr, "pxsh kernel install: -n and --allow (a private cluster) and --profile (a running cluster) exclude each other")
		return 2
	}
	if *allow != "" {
		if _, err := hostlib.ParseGrant(*allow); err != nil {
			fmt.Fprintf(stderr, "pxsh kernel install: --allow %q: %v\n", *allow, err)
			return 2
		}
	}
	bin, err := os.Executable()
	if err == nil {
		bin, err = filepath.Abs(bin)
	}
	if err != nil {
		fmt.Fprintln(stderr, "pxsh kernel install:", err)
		return 1
	}
	specName, shown := "pxsh", "pxsh (Starlark)"
	var extra []string
	switch {
	case *prof != "":
		specName, shown = "pxsh-"+*prof, "pxsh (Starlark, profile "+*prof+")"
		extra = []string{"--profile", *prof}
	case *n > 0:
		extra = []string{"-n", strconv.Itoa(*n)}
	}
	if *allow != "" {
		extra = append(extra, "--allow", *allow)
	}
	if *name != "" {
		specName = *name
	}
	if *display != "" {
		shown = *display
	}
	dataDir, err := kernel.DataDir(*user, *prefix, getenv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	dir, err := kernel.Install(dataDir, specName, kernel.NewSpec(bin, shown, extra...))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "Installed kernelspec %s in %s\n", specName, dir)
	return 0
}

// watchParent ends the kernel when the Jupyter process that started it
// ($JPY_PARENT_PID) is gone, as IPython's kernels do: a front end that
// dies without a shutdown_request leaves no kernel and no private
// cluster behind.
func watchParent(ctx context.Context, stop func()) {
	parent, err := strconv.Atoi(getenv("JPY_PARENT_PID"))
	if err != nil || parent <= 1 || os.Getppid() != parent {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if os.Getppid() != parent {
				stop()
				return
			}
		}
	}
}
