// Package shell is the pxsh program: the interactive shell, script and
// -c modes, %px magics, and the API that Go programs use to embed them.
//
// Nothing imports shell except cmd/pxsh and embedding programs.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/shell/clientlib"
	"github.com/pxsh/pxsh/starlarklib"
	"github.com/pxsh/pxsh/starlarklib/hostlib"
	"go.starlark.net/starlark"
	"golang.org/x/term"
)

// Private describes a private cluster for Config.StartPrivate.
type Private struct {
	// Engines is the number of engines.
	Engines int
	// Allow is the engines' host-capability grant (--allow syntax).
	Allow string
}

// Config configures a Shell. Zero fields take the defaults documented on
// each.
type Config struct {
	// Stdin, Stdout and Stderr are the shell's streams; nil means
	// os.Stdin, os.Stdout and os.Stderr.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv looks up environment variables; nil means os.Getenv.
	Getenv func(string) string
	// Builtins are extra predeclared names.
	Builtins starlark.StringDict
	// Modules are extra modules that load(name, ...) gives, implemented by
	// Go code (see starlarklib.Namespace.SetNativeModule).
	Modules map[string]starlark.StringDict
	// ConnectionFile names the cluster to use; "" means Profile's running
	// cluster, or a private one.
	ConnectionFile string
	// Profile is the profile whose cluster is used; "" means "default".
	// When set explicitly (ProfileSet), its cluster must be running.
	Profile    string
	ProfileSet bool
	// Engines is the number of engines of a private cluster; 0 means the
	// CPU count.
	Engines int
	// StartCluster starts a private local cluster with n engines and
	// returns its client connection file and a function that stops it.
	// nil means no private cluster can be started.
	StartCluster func(ctx context.Context, n int) (connFile string, stop func(), err error)
	// Allow is the host-capability grant (--allow syntax: "sh,fs=/data")
	// of a private cluster's engines; when set, the shell starts a
	// private cluster with StartPrivate instead of using a profile's.
	Allow string
	// StartPrivate starts a private local cluster as p says; it replaces
	// StartCluster when set.
	StartPrivate func(ctx context.Context, p Private) (connFile string, stop func(), err error)
	// PrivateOnly makes the session start a private cluster even when the
	// default profile has one running (pxsh kernel -n N).
	PrivateOnly bool
	// Interactive forces the shell's terminal behaviour (banner, colour,
	// progress bars) even when Stdin is not a terminal.
	Interactive bool

	// Code, when set, is what Run runs instead of the interactive shell
	// (pxsh -c CODE); argv is ["-c"] + Args.
	Code string
	// Script, when set, is the file Run runs instead of the interactive
	// shell (pxsh run FILE ARGS); argv is [Script] + Args.
	Script string
	Args   []string

	// LineReader is the interactive shell's line editor; nil means
	// readline when Stdin is a terminal, plain lines otherwise.
	LineReader LineReader
	// Interrupt delivers the user's interrupts (Ctrl-C) while code runs:
	// the running call is cancelled, its tasks are cancelled on the
	// engines and the shell returns to its prompt. nil means none (Main
	// connects SIGINT).
	Interrupt <-chan struct{}
	// HistoryFile is the interactive history; "" means "history" in the
	// profile's directory, "-" means none.
	HistoryFile string
	// Quiet suppresses the interactive banner.
	Quiet bool
	// Version is shown in the banner; "" means "0.1.0".
	Version string
	// NoConnect keeps the interactive shell from connecting to a cluster
	// and binding rc at start-up.
	NoConnect bool
}

// Shell runs Starlark code with the client builtins. It is not safe for
// concurrent use.
type Shell struct {
	cfg    Config
	ns     *starlarklib.Namespace
	env    *clientlib.Env
	thread *starlark.Thread

	builtins starlark.StringDict
	terminal bool
	color    bool
	px       *magics

	mu       sync.Mutex
	blocked  *clientlib.AsyncResult // the last blocking call's (%timeline)
	callCtx  context.Context
	connFile string
	stop     func()
	private  bool
	clients  []*client.Client
}

// New makes a shell.
func New(cfg Config) *Shell {
	if cfg.Stdin == nil {
		cfg.Stdin = os.Stdin
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Profile == "" {
		cfg.Profile = "default"
	}
	if cfg.Version == "" {
		cfg.Version = "0.1.0"
	}
	s := &Shell{cfg: cfg, callCtx: context.Background()}
	s.terminal = cfg.Interactive || isTerminal(cfg.Stdin)
	s.color = s.terminal && cfg.Getenv("NO_COLOR") == ""
	s.px = newMagics()
	s.env = &clientlib.Env{Connect: s.connect, Stdout: cfg.Stdout, Context: s.context,
		Activate: s.activate, Terminal: s.terminal, Blocked: s.noteBlocked}
	builtins := starlark.StringDict{"help": starlark.NewBuiltin("help", s.helpBuiltin)}
	for k, v := range starlarklib.Modules() {
		builtins[k] = v
	}
	// the user's own process: every host capability
	for k, v := range hostlib.Modules(hostlib.Config{Grant: hostlib.All, Place: "this shell"}) {
		builtins[k] = v
	}
	for k, v := range clientlib.Builtins(s.env) {
		builtins[k] = v
	}
	for k, v := range cfg.Builtins {
		builtins[k] = v
	}
	s.builtins = builtins
	s.ns = starlarklib.NewNamespace(builtins)
	for name, m := range cfg.Modules {
		s.ns.SetNativeModule(name, m)
	}
	s.env.NS = s.ns
	s.thread = s.newThread()
	return s
}

// newThread returns a thread for running one input.
func (s *Shell) newThread() *starlark.Thread {
	return &starlark.Thread{
		Name:  "pxsh",
		Print: func(_ *starlark.Thread, msg string) { fmt.Fprintln(s.cfg.Stdout, msg) },
		Load:  s.ns.Load,
	}
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Namespace returns the shell's global namespace.
func (s *Shell) Namespace() *starlarklib.Namespace { return s.ns }

func (s *Shell) context() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callCtx
}

// setContext sets the context of blocking calls (the shell cancels it on
// Ctrl-C).
func (s *Shell) setContext(ctx context.Context) {
	s.mu.Lock()
	s.callCtx = ctx
	s.mu.Unlock()
	starlarklib.SetContext(s.thread, ctx)
}

// Close closes the shell's clients and stops a private cluster it
// started.
func (s *Shell) Close() {
	s.mu.Lock()
	stop := s.stop
	s.stop = nil
	clients := s.clients
	s.clients = nil
	s.mu.Unlock()
	for _, c := range clients {
		c.Close()
	}
	if stop != nil {
		stop()
	}
}

// connect serves Client(profile=, file=, timeout=).
func (s *Shell) connect(ctx context.Context, prof, file string, timeout time.Duration) (*client.Client, error) {
	path := file
	if path == "" && prof != "" {
		path = profile.ConnectionPath(profile.Dir(profile.Root(s.cfg.Getenv), prof), false)
	}
	if path == "" {
		var err error
		if path, err = s.defaultCluster(ctx); err != nil {
			return nil, err
		}
	}
	c, err := client.Dial(ctx, path, client.Options{Timeout: timeout})
	s.mu.Lock()
	private := s.private
	s.mu.Unlock()
	if err != nil && file == "" && !private {
		return nil, fmt.Errorf("the cluster recorded in profile %q is not reachable (connection file %s): %w",
			profileName(filepath.Dir(filepath.Dir(path))), path, err)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.clients = append(s.clients, c)
	s.mu.Unlock()
	if private {
		// A private cluster's engines were just started: wait for them.
		n := s.engines()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.WaitForEngines(wctx, n); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (s *Shell) engines() int {
	if s.cfg.Engines > 0 {
		return s.cfg.Engines
	}
	return numCPU()
}

// defaultCluster returns the connection file of the cluster to use when
// none is named, starting a private one when needed.
func (s *Shell) defaultCluster(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connFile != "" {
		return s.connFile, nil
	}
	if s.cfg.ConnectionFile != "" {
		s.connFile = s.cfg.ConnectionFile
		return s.connFile, nil
	}
	if s.cfg.Allow != "" || s.cfg.PrivateOnly {
		return s.startPrivate(ctx)
	}
	path, err := profileCluster(ctx, profile.Dir(profile.Root(s.cfg.Getenv), s.cfg.Profile))
	if err != nil {
		return "", err
	}
	if path != "" {
		s.connFile = path
		return path, nil
	}
	if s.cfg.ProfileSet {
		return "", fmt.Errorf("no cluster running in profile %q (start one with: pxsh cluster start --profile %s)", s.cfg.Profile, s.cfg.Profile)
	}
	return s.startPrivate(ctx)
}

// startPrivate starts a private cluster; s.mu must be held.
func (s *Shell) startPrivate(ctx context.Context) (string, error) {
	var file string
	var stop func()
	var err error
	switch {
	case s.cfg.StartPrivate != nil:
		file, stop, err = s.cfg.StartPrivate(ctx, Private{Engines: s.engines(), Allow: s.cfg.Allow})
	case s.cfg.Allow != "":
		return "", errors.New("start a private cluster: --allow is not supported by this program")
	case s.cfg.StartCluster != nil:
		file, stop, err = s.cfg.StartCluster(ctx, s.engines())
	default:
		return "", errors.New("no cluster running (start one with: pxsh cluster start)")
	}
	if err != nil {
		return "", fmt.Errorf("start a private cluster: %w", err)
	}
	s.connFile, s.stop, s.private = file, stop, true
	return file, nil
}

// alive reports whether a local process exists.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
