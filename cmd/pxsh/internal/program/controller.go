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
	"os/signal"
	"strconv"
	"time"

	"github.com/pxsh/pxsh/hub"
	"github.com/pxsh/pxsh/profile"
)

// controllerFlags are the flags shared by `pxsh controller` and the
// embedded cluster.
type controllerFlags struct {
	profileName, profileDir, ip, location string
	port                                  int
	heartbeat, deadAfter                  time.Duration
	verbose                               bool
	scheme                                string
	hwm                                   int
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
}

func (f *controllerFlags) dir() string {
	if f.profileDir != "" {
		return f.profileDir
	}
	return profile.Dir(profile.Root(getenv), f.profileName)
}

func (f *controllerFlags) config(stderr io.Writer) hub.Config {
	cfg := hub.Config{
		ProfileDir: f.dir(),
		Addr:       net.JoinHostPort(f.ip, strconv.Itoa(f.port)),
		Location:   f.location,
		Heartbeat:  f.heartbeat,
		DeadAfter:  f.deadAfter,
		Scheme:     f.scheme,
		HWM:        f.hwm,
	}
	if f.hwm == 0 {
		cfg.HWM = -1
	}
	if f.verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	return cfg
}

func controllerMain(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("pxsh controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f controllerFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := os.MkdirAll(f.dir(), 0o700); err != nil {
		fmt.Fprintln(stderr, "pxsh controller:", err)
		return 1
	}
	h, err := hub.New(f.config(stderr))
	if err != nil {
		fmt.Fprintln(stderr, "pxsh controller:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if err := h.Serve(ctx); err != nil && !errors.Is(err, hub.ErrClosed) {
		fmt.Fprintln(stderr, "pxsh controller:", err)
		return 1
	}
	return 0
}
