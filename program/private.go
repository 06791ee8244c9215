package program

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pxsh/pxsh/hub"
	"github.com/pxsh/pxsh/profile"
)

// startPrivate starts a private local cluster: a controller in this
// process and n engine processes that die with it. stop tears it all
// down and removes its profile.
func startPrivate(ctx context.Context, n int) (string, func(), error) {
	dir, err := os.MkdirTemp("", "pxsh-private-")
	if err != nil {
		return "", nil, fmt.Errorf("private cluster: %w", err)
	}
	h, err := hub.New(hub.Config{ProfileDir: dir})
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
		cmd := exec.Command(bin, "engine", "--file", engFile, "--id", strconv.Itoa(i))
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

// tempDir is where private clusters live.
func tempDir() string { return filepath.Join(os.TempDir()) }
