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
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pxsh/pxsh/engine"
	"github.com/pxsh/pxsh/gcpace"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
	"github.com/pxsh/pxsh/starlarklib/hostlib"
)

// rankVars name the environment variables that carry an MPI rank.
var rankVars = []string{"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"}

func engineMain(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer, o *options) int {
	fs := flag.NewFlagSet("pxsh engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "connection `file` (default: the profile's)")
	prof := fs.String("profile", "default", "profile `name`")
	id := fs.Int("id", -1, "engine `id` to ask for (with --count N: the first of N)")
	count := fs.Int("count", 1, "run `N` engines in this process, each with its own id, namespace and queue, over one shared connection")
	mpi := fs.Bool("mpi", false, "ask for the MPI rank as id (with --count N: rank×N onwards)")
	eof := fs.Bool("exit-on-stdin-eof", false, "exit when stdin closes (for ssh)")
	steps := fs.Uint64("max-steps", 0, "per-task execution step `budget` (0: none)")
	lim := engineLimits{memory: size(engine.DefaultMaxMemory()), stack: engine.DefaultMaxStack,
		output: engine.DefaultMaxOutput, frame: quic.DefaultMaxFrame, value: quic.DefaultMaxValue, depth: engine.DefaultMaxDepth}
	lim.register(fs)
	wait := fs.Duration("wait", 60*time.Second, "how long to wait for the connection file and controller")
	verbose := fs.Bool("verbose", false, "log events to stderr")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to `file` (for developers)")
	traceFile := fs.String("trace", "", "write an execution trace to `file` (for developers)")
	allow := fs.String("allow", "", "host `capabilities` tasks get: sh, env, fs=ROOT:ROOT (comma-separated; default none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *count < 1 {
		fmt.Fprintf(stderr, "pxsh engine: --count %d: want 1 or more\n", *count)
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
	defer gcpace.Start()() // tasks decode large values: pace the collector by their pointers
	defer startDiagnostics(*cpuprofile, *traceFile)()
	if *file == "" {
		*file = profile.ConnectionPath(profile.Dir(profile.Root(getenv), *prof), true)
	}
	if *mpi {
		if *id = mpiRank(); *id >= 0 {
			*id *= *count
		}
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
	lim.apply(&cfg)
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	return serveEngines(ctx, cfg, *count, stderr)
}

// serveEngines runs n engines in this process (ids cfg.ID onwards when
// given) until each ends; the exit status is 1 if any failed. Two or more
// share one connection to the controller (engine.Process): each has its
// own id, namespace, queue and registration, the controller watches the
// process as a whole, and the process's death is n engine deaths.
func serveEngines(ctx context.Context, cfg engine.Config, n int, stderr io.Writer) int {
	var wg sync.WaitGroup
	var failed atomic.Bool
	var mu sync.Mutex // serializes error lines
	base := cfg
	if n > 1 {
		proc, err := engine.NewProcess(cfg.Connection, cfg.MaxFrame, cfg.MaxValue)
		if err != nil {
			fmt.Fprintln(stderr, "pxsh engine:", err)
			return 1
		}
		base.Process = proc
	}
	for i := range n {
		c := base
		c.Slot = i
		if base.ID >= 0 {
			c.ID = base.ID + i
		}
		if c.Logger != nil && n > 1 {
			c.Logger = c.Logger.With("slot", i)
		}
		e, err := engine.New(c)
		if err != nil {
			fmt.Fprintln(stderr, "pxsh engine:", err)
			return 1
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.Serve(ctx)
			if err == nil || errors.Is(err, engine.ErrShutdown) || ctx.Err() != nil {
				return
			}
			failed.Store(true)
			mu.Lock()
			defer mu.Unlock()
			if n > 1 {
				fmt.Fprintf(stderr, "pxsh engine %d: %v\n", e.ID(), err)
			} else {
				fmt.Fprintln(stderr, "pxsh engine:", err)
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		return 1
	}
	return 0
}

// engineLimits are the per-engine limits set by flags (0 turns one off).
type engineLimits struct {
	memory, stack, output, frame, value size
	depth                               int
}

func (l *engineLimits) register(fs *flag.FlagSet) {
	fs.Var(&l.memory, "max-memory", "heap `size` over which a running task fails with MemoryError (0: none; half the RAM, at most 4GiB)")
	fs.Var(&l.stack, "max-stack", "call-stack `size` over which a running task fails with RecursionError (0: none)")
	fs.Var(&l.output, "max-output", "output `size` captured per task; the rest is cut with a marker (0: no limit)")
	fs.Var(&l.frame, "max-frame", "largest single message `size`; a larger result fails with ValueError")
	fs.Var(&l.value, "max-value", "largest streamed value `size` (a pushed value, a result of 256KiB or more); a larger result fails with ValueError")
	fs.IntVar(&l.depth, "max-depth", l.depth, "nesting `levels` of received values and json.decode input")
}

// apply puts the limits in cfg and sets the Go runtime's memory limit (so
// the collector works harder before the watchdog fails a task) and its
// stack limit (above --max-stack, so deep recursion is caught first).
func (l *engineLimits) apply(cfg *engine.Config) {
	cfg.MaxMemory, cfg.MaxStack, cfg.MaxOutput = int64(l.memory), int64(l.stack), int(l.output)
	if l.stack == 0 {
		cfg.MaxStack = -1
	}
	if l.output == 0 {
		cfg.MaxOutput = -1
	}
	cfg.MaxFrame, cfg.MaxDepth, cfg.MaxValue = int(l.frame), l.depth, int64(l.value)
	if l.memory > 0 {
		debug.SetMemoryLimit(engine.RuntimeMemoryLimit(int64(l.memory)))
	}
	if l.stack > 0 && 2*int64(l.stack) > 1<<30 {
		debug.SetMaxStack(int(2 * l.stack))
	}
}

// size is a flag value in bytes, written as 1048576, 512KiB, 64MiB, 2GiB
// (or K, M, G, KB, MB, GB: powers of 1024 too).
type size int64

func (s *size) String() string {
	if s == nil || *s == 0 {
		return "0"
	}
	return strings.ReplaceAll(protocol.FormatSize(int64(*s)), " ", "")
}

func (s *size) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = size(n)
	return nil
}

// parseSize parses a byte size with an optional binary unit.
func parseSize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10},
		{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("bad size %q: want bytes, or a number with KiB, MiB, GiB", v)
	}
	return int64(f * float64(mult)), nil
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

// startDiagnostics starts the developers' diagnostics a command's flags
// ask for (--cpuprofile, --trace; "" for none) and returns what stops
// them. A file that cannot be created is skipped.
func startDiagnostics(cpuprofile, tracePath string) (stop func()) {
	var stops []func()
	if cpuprofile != "" {
		if s, err := startProfile(cpuprofile); err == nil {
			stops = append(stops, s)
		}
	}
	if tracePath != "" {
		if s, err := startTrace(tracePath); err == nil {
			stops = append(stops, s)
		}
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// startTrace writes an execution trace (runtime/trace) to path until
// stop (for developers: goroutine wake-ups and hand-offs on the message
// path, docs/PERFORMANCE.md).
func startTrace(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { trace.Stop(); f.Close() }, nil
}
