package program

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pxsh/pxsh/engine"
	"github.com/pxsh/pxsh/hub"
	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/shell"
	"github.com/pxsh/pxsh/starlarklib/hostlib"
)

// StartPrivate starts a private local cluster, the one builder of them
// (pxsh's shell uses it; so can Go programs that embed the shell, as
// shell.Config.StartPrivate): a controller in this process and p.Engines
// engines granted p.Allow, which die with it: goroutines of this process
// when p.InProcess, else processes of this program's binary (`pxsh
// engine`). It returns the client connection file and stop, which tears
// it all down and removes its profile directory.
func StartPrivate(ctx context.Context, p shell.Private) (connFile string, stop func(), err error) {
	grant, err := hostlib.ParseGrant(p.Allow)
	if err != nil {
		return "", nil, err
	}
	cleanStalePrivate(os.TempDir())
	dir, err := os.MkdirTemp("", privatePrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", nil, fmt.Errorf("private cluster: %w", err)
	}
	// the task database stays in memory: nothing outlives the cluster
	h, err := hub.New(hub.Config{ProfileDir: dir, MemoryDB: true, GovernProcs: true, KeepAwake: keepAwakeCommand()})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	hctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, p.Engines+1)
	started := 1
	go func() { h.Serve(hctx); done <- struct{}{} }()
	<-h.Ready()
	stopDash, err := startDashboard(hctx, h, "127.0.0.1:0", dir, os.Stderr)
	if err != nil {
		stopDash = func() {} // the cluster works without its dashboard
	}
	var procs []*exec.Cmd
	stop = func() {
		stopProcs(procs, 2*time.Second)
		stopDash()
		cancel()
		for range started {
			<-done
		}
		os.RemoveAll(dir)
	}
	engFile := profile.ConnectionPath(dir, true)
	if p.InProcess {
		err = startEngineGoroutines(hctx, engFile, p.Engines, grant, func() { started++ }, done)
	} else {
		procs, err = startEngineProcs(engFile, p)
	}
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("private cluster: %w", err)
	}
	return profile.ConnectionPath(dir, false), stop, nil
}

// startEngineGoroutines serves n engines in this process until ctx ends;
// each one calls started, then sends on done when it ends.
func startEngineGoroutines(ctx context.Context, engFile string, n int, grant hostlib.Grant, started func(), done chan<- struct{}) error {
	conn, err := profile.Read(engFile)
	if err != nil {
		return err
	}
	for i := range n {
		e, err := engine.New(engine.Config{Connection: conn, ID: i, Grant: grant})
		if err != nil {
			return fmt.Errorf("start engine %d: %w", i, err)
		}
		started()
		go func() { e.Serve(ctx); done <- struct{}{} }()
	}
	return nil
}

// startEngineProcs starts p.Engines `pxsh engine` processes of this
// program's binary, killed when this process dies.
func startEngineProcs(engFile string, p shell.Private) ([]*exec.Cmd, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var procs []*exec.Cmd
	for i := range p.Engines {
		args := []string{"engine", "--file", engFile, "--id", strconv.Itoa(i)}
		if p.Allow != "" {
			args = append(args, "--allow", p.Allow)
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = nil, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if err := cmd.Start(); err != nil {
			stopProcs(procs, 2*time.Second)
			return nil, fmt.Errorf("start engine: %w", err)
		}
		procs = append(procs, cmd)
	}
	return procs, nil
}

// stopProcs sends SIGTERM, waits up to grace, then kills what is left.
func stopProcs(procs []*exec.Cmd, grace time.Duration) {
	done := make(chan struct{}, len(procs))
	for _, p := range procs {
		p.Process.Signal(syscall.SIGTERM)
		go func() { p.Wait(); done <- struct{}{} }()
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	for range procs {
		select {
		case <-done:
		case <-timer.C:
			for _, p := range procs {
				if err := p.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
					continue
				}
			}
			return
		}
	}
}

// privatePrefix names private cluster directories in the temporary
// directory: pxsh-private-<pid>-<random>, pid being the process that
// owns the cluster.
const privatePrefix = "pxsh-private-"

// cleanStalePrivate removes the private cluster directories under tmp
// whose owner process is gone (killed before it could remove them).
func cleanStalePrivate(tmp string) {
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), privatePrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || launcher.Alive(pid) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
				continue // another user's
			}
		}
		os.RemoveAll(filepath.Join(tmp, e.Name()))
	}
}
