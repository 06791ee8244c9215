// Package clustertest starts real pxsh clusters for tests: a controller
// in the test process on a random loopback port and engine processes of
// the real pxsh binary, built once per test binary.
package clustertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/hub"
	"github.com/pxsh/pxsh/internal/waittest"
	"github.com/pxsh/pxsh/profile"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Scale returns the factor applied to test time bounds: $PXSH_TEST_SCALE,
// default 1 (waittest.Scale).
func Scale() time.Duration { return waittest.Scale() }

// Binary builds cmd/pxsh (once per test binary) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("PXSH_BINARY"); p != "" {
			binPath = p
			return
		}
		binPath, buildErr = build()
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// build builds cmd/pxsh into one directory per checkout under the
// temporary directory, replacing the last build there by a rename, so
// test runs do not leave a binary each behind. A process started from
// the last build keeps running it.
func build() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "pxsh-test-bin-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".build-")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/pxsh")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "pxsh")
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// keepAwake is the controller's spinner command, as the pxsh binary's
// controller has it (none with PXSH_KEEPAWAKE=0).
func keepAwake(t testing.TB) []string {
	if os.Getenv("PXSH_KEEPAWAKE") == "0" {
		return nil
	}
	return []string{Binary(t), "keepawake"}
}

// Options configure a test cluster.
type Options struct {
	Heartbeat time.Duration // 0: 100 ms
	DeadAfter time.Duration // 0: 600 ms
	// EngineArgs are extra arguments for every engine.
	EngineArgs []string
	// MaxFrame bounds the controller's frames; 0: the default.
	MaxFrame int
	// MaxValue bounds the controller's streamed values; 0: the default.
	MaxValue int64
	// HWM and Scheme configure load balancing (see hub.Config).
	HWM    int
	Scheme string
	// Prefetch is hub.Config.Prefetch (0: the default).
	Prefetch int
	// PerProcess runs that many engines in each engine process (pxsh
	// engine --count); Kill(id) with the process's first id kills them
	// all. 0 means one.
	PerProcess int
	// MemoryDB keeps the controller's task database in memory.
	MemoryDB bool
	// ClientQueue and EngineQueue are the hub's outgoing-queue bounds;
	// 0: the defaults.
	ClientQueue, EngineQueue int
	// IdleTimeout is the controller's QUIC idle timeout; 0: quic's
	// default. (The engines' is $PXSH_ENGINE_IDLE_TIMEOUT.)
	IdleTimeout time.Duration
}

// Cluster is a running test cluster.
type Cluster struct {
	Hub        *hub.Hub
	Dir        string
	ClientFile string
	EngineFile string
	t          testing.TB
	opts       Options

	mu      sync.Mutex
	engines map[int]*exec.Cmd
	logs    map[int]*SyncBuffer
}

// Start starts a controller and n engines (ids 0..n-1) and waits until
// they are registered. Everything stops at the end of the test.
func Start(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	if o.Heartbeat == 0 {
		o.Heartbeat = 100 * time.Millisecond
	}
	if o.DeadAfter == 0 {
		o.DeadAfter = 600 * time.Millisecond
	}
	dir := t.TempDir()
	h, err := hub.New(hub.Config{ProfileDir: dir, Heartbeat: o.Heartbeat, DeadAfter: o.DeadAfter, MaxFrame: o.MaxFrame, MaxValue: o.MaxValue, HWM: o.HWM, Scheme: o.Scheme, Prefetch: o.Prefetch,
		MemoryDB: o.MemoryDB, ClientQueue: o.ClientQueue, EngineQueue: o.EngineQueue, IdleTimeout: o.IdleTimeout,
		GovernProcs: true, KeepAwake: keepAwake(t)}) // as the pxsh binary's controller
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Serve(ctx); close(done) }()
	<-h.Ready()
	c := &Cluster{
		Hub: h, Dir: dir, t: t, opts: o,
		ClientFile: profile.ConnectionPath(dir, false), EngineFile: profile.ConnectionPath(dir, true),
		engines: map[int]*exec.Cmd{}, logs: map[int]*SyncBuffer{},
	}
	t.Cleanup(func() {
		c.StopEngines()
		cancel()
		<-done
	})
	k := max(o.PerProcess, 1)
	for i := 0; i < n; i += k {
		if k == 1 {
			c.StartEngine(i)
		} else {
			c.StartEngine(i, "--count", strconv.Itoa(min(k, n-i)))
		}
	}
	if n > 0 {
		cl := c.Client()
		c.WaitEngines(cl, n)
	}
	return c
}

// StartEngine starts an engine process asking for id (-1: any).
func (c *Cluster) StartEngine(id int, extra ...string) *exec.Cmd {
	c.t.Helper()
	args := append([]string{"engine", "--file", c.EngineFile, "--id", strconv.Itoa(id), "--wait", "10s"}, c.opts.EngineArgs...)
	args = append(args, extra...)
	if p := os.Getenv("PXSH_ENGINE_CPUPROFILE"); p != "" {
		args = append(args, "--cpuprofile", fmt.Sprintf("%s.%d", p, id))
	}
	if p := os.Getenv("PXSH_ENGINE_TRACE"); p != "" {
		args = append(args, "--trace", fmt.Sprintf("%s.%d", p, id))
	}
	cmd := exec.Command(Binary(c.t), args...)
	log := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	key := id
	if key < 0 {
		key = -cmd.Process.Pid
	}
	c.engines[key] = cmd
	c.logs[key] = log
	c.mu.Unlock()
	return cmd
}

// Kill sends SIGKILL to the engine started with id.
func (c *Cluster) Kill(id int) {
	c.mu.Lock()
	cmd := c.engines[id]
	c.mu.Unlock()
	if cmd == nil {
		c.t.Fatalf("no engine %d", id)
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// StopEngines terminates every engine process.
func (c *Cluster) StopEngines() {
	c.mu.Lock()
	cmds := c.engines
	c.engines = map[int]*exec.Cmd{}
	c.mu.Unlock()
	for _, cmd := range cmds {
		cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, cmd := range cmds {
		reap(cmd)
	}
}

// reap waits for a process told to stop, killing it after 5 seconds.
func reap(cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Client dials the cluster; it is closed at the end of the test.
func (c *Cluster) Client() *client.Client {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second*Scale())
	defer cancel()
	cl, err := client.Dial(ctx, c.ClientFile, client.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// WaitEngines waits until cl sees n engines.
func (c *Cluster) WaitEngines(cl *client.Client, n int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second*Scale())
	defer cancel()
	if err := cl.WaitForEngines(ctx, n); err != nil {
		c.t.Fatalf("%v; engine logs: %s", err, c.Logs())
	}
}

// Logs returns the engines' output, for failure messages.
func (c *Cluster) Logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for id, l := range c.logs {
		fmt.Fprintf(&b, "\n[engine %d] %s", id, l.String())
	}
	return b.String()
}

// Eventually waits until cond holds, failing t after d (scaled); it is
// waittest.For.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	waittest.For(t, d, what, cond)
}

// SyncBuffer is a bytes.Buffer safe for concurrent use: a process's or a
// logger's writes and a test's reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Process starts the pxsh binary with args (stdout and stderr to the
// test log on failure) and stops it at the end of the test.
func Process(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	log := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		reap(cmd)
		if t.Failed() {
			t.Logf("%s output:\n%s", args[0], log.String())
		}
	})
	return cmd
}

// WaitListening waits until the controller with pid has written the
// profile's connection files.
func WaitListening(t testing.TB, dir string, pid int) {
	t.Helper()
	Eventually(t, 10*time.Second, "controller to listen", func() bool {
		c, err := profile.Read(profile.ConnectionPath(dir, false))
		return err == nil && c.PID == pid
	})
}
