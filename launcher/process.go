package launcher

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is how long Stop waits after SIGTERM before SIGKILL when a
// launcher's Grace is zero.
const DefaultGrace = 5 * time.Second

// ProcessSpec describes one local process.
type ProcessSpec struct {
	// Path is the program; Args its arguments (without argv[0]).
	Path string
	Args []string
	// Env is the environment; nil inherits the launcher's.
	Env []string
	// Dir is the working directory; "" is the current one.
	Dir string
	// Output is a log file that receives stdout and stderr (appended);
	// "" discards them.
	Output string
	// DieWithParent makes the kernel SIGKILL the process when the process
	// that started it dies (Linux Pdeathsig).
	DieWithParent bool
	// Detach starts the process in a new session (setsid) so it outlives
	// the caller's terminal. Otherwise it gets its own process group.
	Detach bool
	// KeepStdin gives the process a pipe as stdin that stays open until
	// Stop (or until the launcher's process dies): a remote engine run
	// with --exit-on-stdin-eof over ssh ends when it closes. Otherwise
	// stdin is /dev/null.
	KeepStdin bool
	// OnLine, if set, is called with each line the process writes to
	// stdout (they are still written to Output).
	OnLine func(line string)
	// Grace is how long Stop waits between SIGTERM and SIGKILL
	// (DefaultGrace if zero).
	Grace time.Duration
	// Kind and Role go into the Record ("local", "engines"...).
	Kind, Role string
	// ID is the engine id the process runs (-1 if none); Host the remote
	// host for ssh.
	ID   int
	Host string
	// Count is how many engines (ids ID onwards) the process runs; 0
	// means one.
	Count int
}

// Process is a Launcher for one local process, started in its own process
// group; signals go to the whole group. It is safe for concurrent use.
type Process struct {
	spec ProcessSpec

	mu        sync.Mutex
	state     State
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	pid       int
	start     uint64
	remotePID int
	sshPrefix []string
	stopping  bool
	exit      Exit
	done      chan struct{}
}

// NewProcess returns a Process launcher for spec.
func NewProcess(spec ProcessSpec) *Process {
	if spec.Kind == "" {
		spec.Kind = "local"
	}
	return &Process{spec: spec, done: make(chan struct{})}
}

// Start starts the process.
func (p *Process) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != StateBefore {
		return ErrStarted
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start %s: %w", p.spec.Path, err)
	}
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Env = p.spec.Env
	cmd.Dir = p.spec.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if p.spec.Detach {
		cmd.SysProcAttr.Setsid = true
	} else {
		cmd.SysProcAttr.Setpgid = true
	}
	if p.spec.DieWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	var out *os.File
	if p.spec.Output != "" {
		f, err := os.OpenFile(p.spec.Output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("start %s: %w", p.spec.Path, err)
		}
		out = f
		cmd.Stderr = f
		cmd.Stdout = f
	}
	var pr, pw *os.File
	if p.spec.OnLine != nil {
		var err error
		if pr, pw, err = os.Pipe(); err != nil {
			closeFile(out)
			return fmt.Errorf("start %s: %w", p.spec.Path, err)
		}
		cmd.Stdout = pw
	}
	if p.spec.KeepStdin {
		w, err := cmd.StdinPipe()
		if err != nil {
			closeFile(out, pr, pw)
			return fmt.Errorf("start %s: %w", p.spec.Path, err)
		}
		p.stdin = w
	}
	if err := cmd.Start(); err != nil {
		closeFile(out, pr, pw)
		p.state = StateStopped
		p.exit = Exit{Code: -1, Err: err, Time: time.Now()}
		close(p.done)
		return fmt.Errorf("start %s: %w", p.spec.Path, err)
	}
	closeFile(pw)
	p.cmd = cmd
	p.pid = cmd.Process.Pid
	p.start = procStartTime(p.pid)
	p.state = StateRunning
	if pr != nil {
		go p.readLines(pr, out)
	}
	go p.wait(out)
	return nil
}

func closeFile(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

func (p *Process) readLines(r *os.File, out *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if out != nil {
			fmt.Fprintln(out, line)
		}
		p.spec.OnLine(line)
	}
}

func (p *Process) wait(out *os.File) {
	err := p.cmd.Wait()
	closeFile(out)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exit = exitOf(p.cmd.ProcessState, err)
	p.exit.Requested = p.stopping
	p.state = StateStopped
	close(p.done)
}

func exitOf(ps *os.ProcessState, err error) Exit {
	e := Exit{Code: -1, Time: time.Now()}
	if ps == nil {
		e.Err = err
		return e
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal()
		return e
	}
	e.Code = ps.ExitCode()
	return e
}

// PID returns the process id, 0 before Start.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// setRemote records the pid of the remote command (ssh).
func (p *Process) setRemote(pid int, prefix []string) {
	p.mu.Lock()
	p.remotePID, p.sshPrefix = pid, prefix
	p.mu.Unlock()
}

// Stop ends the process: closes its stdin (if kept open), sends SIGTERM
// to its process group, and SIGKILL after the grace period or when ctx is
// done.
func (p *Process) Stop(ctx context.Context) error {
	p.mu.Lock()
	switch p.state {
	case StateBefore:
		p.state = StateStopped
		p.exit = Exit{Code: -1, Requested: true, Time: time.Now()}
		close(p.done)
		p.mu.Unlock()
		return nil
	case StateStopped:
		p.mu.Unlock()
		return nil
	}
	p.stopping = true
	pid := p.pid
	if p.stdin != nil {
		p.stdin.Close()
	}
	p.mu.Unlock()
	grace := p.spec.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	syscall.Kill(-pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	case <-ctx.Done():
	}
	// SIGKILL whatever is left of the group (members outliving the
	// leader, or the leader itself after the grace period).
	syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		return fmt.Errorf("stop process %d: still running after SIGKILL", pid)
	}
	return nil
}

// Signal sends sig to the process group.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != StateRunning {
		return ErrNotRunning
	}
	if err := syscall.Kill(-p.pid, sig); err != nil {
		return fmt.Errorf("signal process %d: %w", p.pid, err)
	}
	return nil
}

// Wait returns a channel closed when the process has ended.
func (p *Process) Wait() <-chan struct{} { return p.done }

// Exit reports how the process ended.
func (p *Process) Exit() Exit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit
}

// State reports the life-cycle state.
func (p *Process) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Record describes the process.
func (p *Process) Record() Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := Record{Kind: p.spec.Kind, Role: p.spec.Role, FirstID: p.spec.ID, N: max(p.spec.Count, 1)}
	if p.spec.ID < 0 {
		r.N = 0
	}
	if p.pid != 0 {
		r.Procs = []ProcRecord{{PID: p.pid, Start: p.start, ID: p.spec.ID, Host: p.spec.Host,
			RemotePID: p.remotePID, SSH: p.sshPrefix}}
	}
	return r
}

// procStartTime returns field 22 of /proc/PID/stat, 0 if unknown.
func procStartTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// fields after ")" start at field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// procState returns field 3 of /proc/PID/stat ("R", "S", "Z"...), "" if
// the process does not exist.
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+3 > len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// Alive reports whether a local process exists and is not a zombie.
func Alive(pid int) bool { return alive(pid, 0) }

// alive reports whether pid exists, is not a zombie and (when start is
// not 0) was started at start.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st := procState(pid)
	if st == "" || st == "Z" || st == "X" {
		return false
	}
	return start == 0 || procStartTime(pid) == start
}

// killProc stops a recorded process that this process did not start:
// SIGTERM to its group, then SIGKILL after grace. It does nothing if the
// pid is gone or was reused.
func killProc(ctx context.Context, pr ProcRecord, grace time.Duration) error {
	if !alive(pr.PID, pr.Start) {
		return nil
	}
	target := -pr.PID
	if pgid, err := syscall.Getpgid(pr.PID); err != nil || pgid != pr.PID {
		target = pr.PID
	}
	if err := syscall.Kill(target, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop process %d: %w", pr.PID, err)
	}
	if waitGone(ctx, pr, grace) {
		syscall.Kill(target, syscall.SIGKILL)
		return nil
	}
	syscall.Kill(target, syscall.SIGKILL)
	if !waitGone(context.Background(), pr, 3*time.Second) {
		return fmt.Errorf("stop process %d: still running after SIGKILL", pr.PID)
	}
	return nil
}

// waitGone polls until the process is gone, ctx is done or d passed.
func waitGone(ctx context.Context, pr ProcRecord, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !alive(pr.PID, pr.Start) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killProcOnly sends SIGTERM to one recorded process (not its group).
func killProcOnly(pr ProcRecord) error {
	if !alive(pr.PID, pr.Start) {
		return nil
	}
	if err := syscall.Kill(pr.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal process %d: %w", pr.PID, err)
	}
	return nil
}
