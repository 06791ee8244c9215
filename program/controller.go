package program

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pxsh/pxsh/hub"
	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/quic"
)

// controllerFlags are the flags shared by `pxsh controller` and the
// embedded cluster.
type controllerFlags struct {
	profileName, profileDir, ip, location string
	port                                  int
	heartbeat, deadAfter                  time.Duration
	verbose                               bool
	scheme                                string
	hwm, prefetch                         int
	restore, daemonize, memoryDB          bool
	supervised                            bool
	grace                                 time.Duration
	maxFrame, maxValue                    size
	dashboard                             string
}

func (f *controllerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.profileName, "profile", "default", "profile `name`")
	fs.StringVar(&f.profileDir, "profile-dir", "", "profile `directory` (overrides --profile)")
	fs.StringVar(&f.ip, "ip", "127.0.0.1", "interface `address` to listen on (0.0.0.0 for all)")
	fs.IntVar(&f.port, "port", 0, "UDP `port` (0 picks a free one)")
	fs.StringVar(&f.location, "location", "", "`host` engines and clients use to reach the controller")
	fs.DurationVar(&f.heartbeat, "heartbeat", 500*time.Millisecond, "engine heartbeat `period`")
	fs.DurationVar(&f.deadAfter, "dead-after", 2500*time.Millisecond, "declare an engine dead after this much `silence`")
	fs.BoolVar(&f.verbose, "verbose", false, "log events to stderr")
	fs.StringVar(&f.scheme, "scheme", "leastload", "load-balancing `policy`: leastload, lru, weighted, plainrandom, twobin")
	fs.IntVar(&f.hwm, "hwm", 1, "load-balanced tasks an engine may hold at once (0: no limit)")
	fs.IntVar(&f.prefetch, "prefetch", 32, "load-balanced tasks an engine may hold while its tasks run shorter than a round trip (adaptive; at most --hwm turns it off)")
	fs.BoolVar(&f.restore, "restore", false, "restart the profile's controller: same port, keys and cluster, tasks in flight resumed")
	fs.DurationVar(&f.grace, "restore-grace", 10*time.Second, "how long engines have to reclaim their tasks after --restore")
	fs.BoolVar(&f.daemonize, "daemonize", false, "run in the background once listening")
	fs.BoolVar(&f.memoryDB, "memory-db", false, "keep the task database in memory")
	f.maxFrame = quic.DefaultMaxFrame
	f.maxValue = quic.DefaultMaxValue
	fs.Var(&f.maxFrame, "max-frame", "largest single message `size` (a reply, a load-balanced request); larger ones fail with an error naming the size")
	fs.Var(&f.maxValue, "max-value", "largest streamed value `size` (a pushed or pulled value, arguments, a result of 256KiB or more, which travel in chunks); larger ones fail with an error naming the size")
	fs.BoolVar(&f.supervised, "x-supervised", false, "internal: started by `pxsh cluster start`, which records it")
	fs.StringVar(&f.dashboard, "dashboard", "127.0.0.1:0", "web dashboard and /metrics `address` (host:port), or off")
}

func (f *controllerFlags) dir() string {
	if f.profileDir != "" {
		return f.profileDir
	}
	return profile.Dir(profile.Root(getenv), f.profileName)
}

func (f *controllerFlags) config(stderr io.Writer) hub.Config {
	cfg := hub.Config{
		ProfileDir:   f.dir(),
		Addr:         net.JoinHostPort(f.ip, strconv.Itoa(f.port)),
		Location:     f.location,
		Heartbeat:    f.heartbeat,
		DeadAfter:    f.deadAfter,
		Scheme:       f.scheme,
		HWM:          f.hwm,
		Prefetch:     f.prefetch,
		Restore:      f.restore,
		MemoryDB:     f.memoryDB,
		RestoreGrace: f.grace,
		MaxFrame:     int(f.maxFrame),
		MaxValue:     int64(f.maxValue),
		GovernProcs:  true,
		KeepAwake:    keepAwakeCommand(),
	}
	if f.hwm == 0 {
		cfg.HWM = -1
	}
	if f.prefetch <= 0 {
		cfg.Prefetch = -1
	}
	// warnings and failures (a dead engine, a failing task database) are
	// always logged; --verbose adds the events
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return cfg
}

func controllerMain(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("pxsh controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f controllerFlags
	f.register(fs)
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to `file` until the controller stops (for developers)")
	traceFile := fs.String("trace", "", "write an execution trace to `file` until the controller stops (for developers)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !f.daemonize { // the daemon, run with the same flags, writes them
		defer startDiagnostics(*cpuprofile, *traceFile)()
	}
	if err := profile.Ensure(f.dir()); err != nil {
		fmt.Fprintln(stderr, "pxsh controller:", err)
		return 1
	}
	if pid, ok := launcher.RunningController(f.dir()); ok && !f.supervised {
		fmt.Fprintf(stderr, "pxsh controller: a controller is already running in %s (pid %d; stop it with `pxsh cluster stop`)\n", f.dir(), pid)
		return 1
	}
	if f.daemonize {
		return daemonizeController(args, f.dir(), stderr)
	}
	if f.dashboard != "off" && f.dashboard != "none" {
		if _, _, err := net.SplitHostPort(f.dashboard); err != nil {
			fmt.Fprintf(stderr, "pxsh controller: --dashboard %q: want host:port or off\n", f.dashboard)
			return 2
		}
	}
	if !f.supervised {
		// started by hand: recorded (before the connection files, which
		// `--daemonize` waits for), so `pxsh cluster list` shows it,
		// `pxsh cluster stop` stops it and a second controller refuses
		pid := os.Getpid()
		if err := launcher.RecordProcess(f.dir(), "controller", pid); err != nil {
			fmt.Fprintln(stderr, "pxsh controller: warning:", err)
		}
		defer launcher.ForgetProcess(f.dir(), pid)
	}
	h, err := hub.New(f.config(stderr))
	if err != nil {
		fmt.Fprintln(stderr, "pxsh controller:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	stopDash, err := startDashboard(ctx, h, f.dashboard, f.dir(), stderr)
	if err != nil {
		h.Shutdown()
		fmt.Fprintln(stderr, "pxsh controller:", err)
		return 1
	}
	defer stopDash()
	if err := h.Serve(ctx); err != nil && !errors.Is(err, hub.ErrClosed) {
		fmt.Fprintln(stderr, "pxsh controller:", err)
		return 1
	}
	return 0
}

// daemonizeController runs `pxsh controller` again without --daemonize in a new
// session, logging to the profile, and returns once it is listening.
func daemonizeController(args []string, dir string, stderr io.Writer) int {
	var rest []string
	for _, a := range args {
		if a != "--daemonize" && a != "-daemonize" {
			rest = append(rest, a)
		}
	}
	bin, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "pxsh controller:", err)
		return 1
	}
	logf, err := os.OpenFile(filepath.Join(dir, "controller.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(stderr, "pxsh controller:", err)
		return 1
	}
	defer logf.Close()
	cmd := exec.Command(bin, append([]string{"controller"}, rest...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "pxsh controller:", err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	path := profile.ConnectionPath(dir, false)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := profile.Read(path); err == nil && c.PID == cmd.Process.Pid {
			return 0
		}
		select {
		case err := <-exited:
			fmt.Fprintf(stderr, "pxsh controller: exited at start (%v); see %s\n", err, logf.Name())
			return 1
		case <-time.After(20 * time.Millisecond):
		}
	}
	fmt.Fprintln(stderr, "pxsh controller: not listening after 15s; see", logf.Name())
	return 1
}
