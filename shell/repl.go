package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/shell/clientlib"
	"go.starlark.net/starlark"
	"golang.org/x/term"
)

// Run runs the shell as configured: Config.Code, Config.Script, or else
// the interactive shell on the configured streams. It returns the exit
// status: 0, or 1 after an uncaught error in a script or command.
func (s *Shell) Run(ctx context.Context) int {
	var err error
	start := time.Now()
	switch {
	case s.cfg.Code != "":
		s.ns.Set("argv", starlarkList(append([]string{"-c"}, s.cfg.Args...)))
		err = s.runScript(ctx, "<command>", s.cfg.Code)
	case s.cfg.Script != "":
		err = s.RunFile(ctx, s.cfg.Script, append([]string{s.cfg.Script}, s.cfg.Args...))
	default:
		return s.Interact(ctx)
	}
	if ctx.Err() != nil {
		// Interrupted (Ctrl-C or SIGTERM): stop what the script started.
		s.cancelOutstanding(start)
		return interruptStatus(ctx, s.cfg.Stderr)
	}
	if err != nil {
		s.printError(err)
		return 1
	}
	return 0
}

// Interact runs the interactive shell until end of input (Ctrl-D) and
// returns the exit status: 0, or 1 when input is not a terminal and some
// input failed.
func (s *Shell) Interact(ctx context.Context) int {
	lr := s.cfg.LineReader
	if lr == nil {
		lr = s.defaultLineReader()
	}
	defer lr.Close()
	if !s.cfg.NoConnect {
		if err := s.startup(ctx); err != nil {
			s.printError(err)
			return 1
		}
	}
	cr := &codeReader{lr: lr}
	failed := false
	for n := 1; ctx.Err() == nil; n++ {
		code, err := cr.ReadCode()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, ErrInterrupt) {
			continue
		}
		if err != nil {
			s.printError(fmt.Errorf("read input: %w", err))
			return 1
		}
		if strings.TrimSpace(code) == "" {
			continue
		}
		lr.AddHistory(code)
		if !s.runInput(ctx, fmt.Sprintf("<stdin:%d>", n), code) {
			failed = true
		}
	}
	if failed && !s.terminal && s.cfg.LineReader == nil {
		return 1
	}
	return 0
}

// defaultLineReader is readline on a terminal, plain lines otherwise.
func (s *Shell) defaultLineReader() LineReader {
	if f, ok := s.cfg.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if r, err := newEditReader(f, s.cfg.Stdout, s.cfg.Stderr, s.historyPath(), s.Complete); err == nil {
			return r
		}
	}
	return newPlainReader(s.cfg.Stdin)
}

// historyPath is the interactive history file ("" for none).
func (s *Shell) historyPath() string {
	switch s.cfg.HistoryFile {
	case "-":
		return ""
	case "":
		return filepath.Join(profile.Dir(profile.Root(s.cfg.Getenv), s.cfg.Profile), "history")
	}
	return s.cfg.HistoryFile
}

// startup binds rc to a client of the cluster (starting a private one
// when needed), activates a blocking rc[:] for the magics and prints the
// banner.
func (s *Shell) startup(ctx context.Context) error {
	c, err := s.connect(ctx, "", "", 10*time.Second)
	if err != nil {
		return err
	}
	rc := clientlib.NewClient(s.env, c)
	s.ns.Set("rc", rc)
	dv, err := rc.Attr("direct_view")
	if err != nil {
		return err
	}
	v, err := starlark.Call(s.thread, dv, nil, nil)
	if err != nil {
		return err
	}
	view := v.(*clientlib.DirectView)
	if err := view.SetField("block", starlark.True); err != nil {
		return err
	}
	if err := s.activate(view, ""); err != nil {
		return err
	}
	if s.terminal && !s.cfg.Quiet {
		fmt.Fprintf(s.cfg.Stdout, "pxsh %s: %d engines (%s); rc = Client(), %%px on rc[:]\n",
			s.cfg.Version, len(c.Ids()), s.where())
		s.mu.Lock()
		dir := filepath.Dir(filepath.Dir(s.connFile))
		s.mu.Unlock()
		if d, err := profile.ReadDashboard(dir); err == nil {
			fmt.Fprintf(s.cfg.Stdout, "dashboard: %s\n", d.URL)
		}
	}
	return nil
}

// where describes the cluster for the banner.
func (s *Shell) where() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.private:
		return "private local cluster"
	case s.cfg.ConnectionFile != "":
		return "cluster of " + s.cfg.ConnectionFile
	}
	return "profile " + s.cfg.Profile
}

// runInput runs one input: a magic, code on the engines (%autopx) or
// Starlark. Ctrl-C (Config.Interrupt) cancels it. It reports success.
func (s *Shell) runInput(ctx context.Context, name, code string) bool {
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	thread := s.newThread()
	s.thread = thread
	s.setContext(ictx)
	// SIGTERM (ctx) stops a pure Starlark loop too.
	stopCancel := context.AfterFunc(ctx, func() { thread.Cancel(cancelReason(ctx)) })
	defer stopCancel()
	start := time.Now()
	var interrupted atomic.Bool
	done := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-s.cfg.Interrupt:
			interrupted.Store(true)
			fmt.Fprintln(s.cfg.Stderr, "Received Keyboard Interrupt. Sending cancel to engines...")
			thread.Cancel("KeyboardInterrupt")
			cancel()
			s.cancelOutstanding(start)
		case <-done:
		}
	}()
	err := s.eval(ictx, thread, name, code)
	close(done)
	<-watcherDone
	if interrupted.Load() {
		s.cancelOutstanding(start)
		fmt.Fprintln(s.cfg.Stderr, "KeyboardInterrupt")
		return false
	}
	if err != nil {
		s.printError(err)
		return false
	}
	return true
}

// cancelOutstanding cancels the tasks submitted since start that have
// not finished.
func (s *Shell) cancelOutstanding(start time.Time) {
	s.mu.Lock()
	clients := append([]*client.Client(nil), s.clients...)
	s.mu.Unlock()
	for _, c := range clients {
		var ids []string
		for _, t := range c.Outstanding(start) {
			ids = append(ids, t.MsgID)
		}
		c.Cancel(ids)
	}
}

// eval runs one input in the shell.
func (s *Shell) eval(ctx context.Context, thread *starlark.Thread, name, code string) error {
	if strings.HasPrefix(strings.TrimSpace(code), "%") {
		return s.magic(ctx, thread, strings.TrimSpace(code))
	}
	if pv := s.px.autopx; pv != nil {
		return s.pxRun(ctx, thread, pv, code, pxOpts{})
	}
	v, err := s.ns.Exec(thread, name, code, true)
	if err != nil {
		return withHint(code, err)
	}
	s.show(v)
	return nil
}

// show prints an expression's value (its repr) and keeps it in _.
func (s *Shell) show(v starlark.Value) {
	if v == nil || v == starlark.None {
		return
	}
	fmt.Fprintln(s.cfg.Stdout, v.String())
	s.ns.Set("_", v)
}

// runScript runs a script's code; Ctrl-C cancels its context.
func (s *Shell) runScript(ctx context.Context, filename, code string) error {
	return s.RunString(ctx, filename, code)
}

func starlarkList(ss []string) *starlark.List {
	vs := make([]starlark.Value, len(ss))
	for i, x := range ss {
		vs[i] = starlark.String(x)
	}
	return starlark.NewList(vs)
}
