package launcher

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: timed out", what)
	}
}

func TestProcessStopAndExit(t *testing.T) {
	p := NewProcess(ProcessSpec{Path: "/bin/sleep", Args: []string{"30"}, ID: 3, Role: "engines", Grace: time.Second})
	if p.State() != StateBefore {
		t.Fatal(p.State())
	}
	ctx := context.Background()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != ErrStarted {
		t.Errorf("second Start: %v", err)
	}
	if p.State() != StateRunning || !alive(p.PID(), 0) {
		t.Fatal("not running")
	}
	r := p.Record()
	if len(r.Procs) != 1 || r.Procs[0].PID != p.PID() || r.Procs[0].Start == 0 || r.FirstID != 3 || r.N != 1 {
		t.Errorf("record %+v", r)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, p.Wait(), "wait")
	e := p.Exit()
	if !e.Requested || e.Signal != syscall.SIGTERM || p.State() != StateStopped {
		t.Errorf("exit %+v state %v", e, p.State())
	}
}

func TestProcessUnexpectedExit(t *testing.T) {
	p := NewProcess(ProcessSpec{Path: "/bin/sh", Args: []string{"-c", "exit 3"}})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, p.Wait(), "wait")
	if e := p.Exit(); e.Requested || e.Code != 3 || e.String() != "exit status 3" {
		t.Errorf("exit %+v", e)
	}
	if err := p.Signal(syscall.SIGTERM); err != ErrNotRunning {
		t.Errorf("Signal after exit: %v", err)
	}
}

func TestProcessForcefulStop(t *testing.T) {
	// ignores SIGTERM: Stop must SIGKILL after the grace period
	ready := make(chan struct{})
	p := NewProcess(ProcessSpec{Path: "/bin/sh", Args: []string{"-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"},
		Grace: 200 * time.Millisecond, OnLine: func(string) { close(ready) }})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ready, "trap installed")
	start := time.Now()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e := p.Exit(); e.Signal != syscall.SIGKILL {
		t.Errorf("exit %+v after %v", e, time.Since(start))
	}
}

func TestProcessKeepStdin(t *testing.T) {
	// cat ends when its stdin closes: Stop closes it first
	lines := make(chan string, 4)
	p := NewProcess(ProcessSpec{Path: "/bin/sh", Args: []string{"-c", "echo pid $$; cat >/dev/null; echo eof"},
		KeepStdin: true, OnLine: func(l string) { lines <- l }})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-lines:
		if !strings.HasPrefix(l, "pid ") {
			t.Errorf("line %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no output")
	}
	select {
	case <-p.Wait():
		t.Fatal("ended with stdin open")
	default:
	}
	p.Stop(context.Background())
	waitClosed(t, p.Wait(), "wait")
}

func TestKillProcRespectsStartTime(t *testing.T) {
	cmd := exec.Command("/bin/sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill() })
	pid := cmd.Process.Pid
	start := procStartTime(pid)
	// a record of a different (reused) process is left alone
	if err := killProc(context.Background(), ProcRecord{PID: pid, Start: start + 1}, time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Fatal("killed a process whose start time differs")
	default:
	}
	if err := killProc(context.Background(), ProcRecord{PID: pid, Start: start}, time.Second); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, done, "killed process")
}
