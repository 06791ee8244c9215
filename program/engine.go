package program

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/pxsh/pxsh/engine"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/starlarklib/hostlib"
)

// rankVars name the environment variables that carry an MPI rank.
var rankVars = []string{"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"}

func engineMain(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer, o *options) int {
	fs := flag.NewFlagSet("pxsh engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "connection `file` (default: the profile's)")
	prof := fs.String("profile", "default", "profile `name`")
	id := fs.Int("id", -1, "engine `id` to ask for")
	mpi := fs.Bool("mpi", false, "ask for the MPI rank as id")
	eof := fs.Bool("exit-on-stdin-eof", false, "exit when stdin closes (for ssh)")
	steps := fs.Uint64("max-steps", 0, "per-task execution step `budget` (0: none)")
	wait := fs.Duration("wait", 60*time.Second, "how long to wait for the connection file and controller")
	verbose := fs.Bool("verbose", false, "log events to stderr")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to `file` (for developers)")
	allow := fs.String("allow", "", "host `capabilities` tasks get: sh, env, fs=ROOT:ROOT (comma-separated; default none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	grant, err := hostlib.ParseGrant(*allow)
	if err != nil {
		fmt.Fprintln(stderr, "pxsh engine:", err)
		return 2
	}
	if getenv("GOMAXPROCS") == "" {
		// An engine runs one task at a time: one P means fewer thread
		// wake-ups per message.
		runtime.GOMAXPROCS(1)
	}
	if *cpuprofile != "" {
		if stop, err := startProfile(*cpuprofile); err == nil {
			defer stop()
		}
	}
	if *file == "" {
		*file = profile.ConnectionPath(profile.Dir(profile.Root(getenv), *prof), true)
	}
	if *mpi {
		*id = mpiRank()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if *eof {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		go func() { io.Copy(io.Discard, stdin); cancel() }()
	}
	conn, err := waitConnection(ctx, *file, *wait)
	if err != nil {
		fmt.Fprintln(stderr, "pxsh engine:", err)
		return 1
	}
	cfg := engine.Config{Connection: conn, ID: *id, MaxSteps: *steps, Retry: *wait, Grant: grant, Modules: o.modules}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	e, err := engine.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "pxsh engine:", err)
		return 1
	}
	err = e.Serve(ctx)
	if err == nil || errors.Is(err, engine.ErrShutdown) || ctx.Err() != nil {
		return 0
	}
	fmt.Fprintln(stderr, "pxsh engine:", err)
	return 1
}

func mpiRank() int {
	for _, k := range rankVars {
		if v := os.Getenv(k); v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return -1
}

// waitConnection waits for a connection file to appear and be valid,
// checking every 10 ms for the first two seconds (engines often start
// with their controller), then every 100 ms.
func waitConnection(ctx context.Context, path string, limit time.Duration) (*profile.Connection, error) {
	start := time.Now()
	for {
		c, err := profile.Read(path)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, profile.ErrNoConnectionFile) || time.Since(start) > limit {
			return nil, err
		}
		delay := 10 * time.Millisecond
		if time.Since(start) > 2*time.Second {
			delay = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// startProfile starts a CPU profile written to path; stop ends it.
func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
