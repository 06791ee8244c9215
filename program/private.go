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

	"github.com/pxsh/pxsh/hub"
	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/shell"
	"github.com/pxsh/pxsh/starlarklib/hostlib"
)

// startPrivate starts a private local cluster: a controller in this
// process and p.Engines engine processes, granted p.Allow, that die with
// it. stop tears it all down and removes its profile.
func startPrivate(ctx context.Context, p shell.Private) (string, func(), error) {
	n := p.Engines
	if _, err := hostlib.ParseGrant(p.Allow); err != nil {
		return "", nil, err
	}
	cleanStalePrivate(os.TempDir())
	dir, err := os.MkdirTemp("", privatePrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", nil, fmt.Errorf("private cluster: %w", err)
	}
	// the task database stays in memory: nothing outlives the cluster
	h, err := hub.New(hub.Config{ProfileDir: dir, MemoryDB: true})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	hctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { h.Serve(hctx); close(served) }()
	<-h.Ready()
	stopDash, err := startDashboard(hctx, h, "127.0.0.1:0", dir, os.Stderr)
	if err != nil {
		stopDash = func() {} // the cluster works without its dashboard
	}
	bin, err := os.Executable()
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("private cluster: %w", err)
	}
	engFile := profile.ConnectionPath(dir, true)
	var procs []*exec.Cmd
	stop := func() {
		stopProcs(procs, 2*time.Second)
		stopDash()
		cancel()
		<-served
		os.RemoveAll(dir)
	}
	for i := 0; i < n; i++ {
		args := []string{"engine", "--file", engFile, "--id", strconv.Itoa(i)}
		if p.Allow != "" {
			args = append(args, "--allow", p.Allow)
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = nil, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if err := cmd.Start(); err != nil {
			stop()
			return "", nil, fmt.Errorf("private cluster: start engine: %w", err)
		}
		procs = append(procs, cmd)
	}
	return profile.ConnectionPath(dir, false), stop, nil
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
