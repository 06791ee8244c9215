package launcher

import (
	"context"
	"errors"
	"fmt"
	"github.com/pxsh/pxsh/launcher/launchertest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pxsh/pxsh/internal/waittest"
)

// fakeSSH runs the "remote" command locally: ssh [opts] host command.
const fakeSSH = `#!/bin/sh
while [ $# -gt 0 ]; do
  case $1 in -F|-p|-o) shift 2;; -*) shift;; *) break;; esac
done
shift
exec /bin/sh -c "$*"
`

// fakeSCP copies locally: scp [opts] src... dst, "host:" prefixes dropped.
const fakeSCP = `#!/bin/sh
while [ $# -gt 0 ]; do case $1 in -F|-P|-o) shift 2;; -*) shift;; *) break;; esac; done
for a in "$@"; do dst=${a#*:}; done
n=$#; i=1
for a in "$@"; do [ $i -lt $n ] && cp -p "${a#*:}" "$dst"; i=$((i+1)); done
`

func testConfig(t *testing.T) Config {
	t.Helper()
	bin := t.TempDir()
	return Config{ProfileDir: filepath.Join(t.TempDir(), "profile_test"), Binary: launchertest.WriteScript(t, bin, "pxsh", launchertest.FakePxsh),
		Engines: "local", N: 3, Grace: 2 * time.Second, PollInterval: 50 * time.Millisecond, StartTimeout: 10 * time.Second,
		DieWithLauncher: true}
}

func assertAllGone(t *testing.T, procs []ProcRecord) {
	t.Helper()
	for _, p := range procs {
		if !waitGone(context.Background(), p, 5*time.Second) {
			t.Errorf("process %d (engine %d) still running", p.PID, p.ID)
		}
	}
}

func TestClusterLocal(t *testing.T) {
	cfg := testConfig(t)
	cfg.RestartEngines = true
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := c.WaitConnection(ctx)
	if err != nil || conn.ClusterID != "fake-1" {
		t.Fatalf("connection %+v, %v", conn, err)
	}
	st, err := ReadState(c.ProfileDir())
	if err != nil {
		t.Fatal(err)
	}
	if st.ClusterID != "fake-1" || st.NextID != 3 || st.EngineCount() != 3 || len(st.Records) != 4 || !st.Running() {
		t.Fatalf("state %+v", st)
	}
	// engines are `engine --file F --id N`
	var victim ProcRecord
	for _, r := range st.Records {
		if r.Role == "engines" && r.FirstID == 1 {
			victim = r.Procs[0]
		}
	}
	if victim.PID == 0 {
		t.Fatalf("no engine 1 in %+v", st.Records)
	}
	syscall.Kill(victim.PID, syscall.SIGKILL)
	var sawExit, sawRestart bool
	deadline := time.After(10 * time.Second)
	for !(sawExit && sawRestart) {
		select {
		case e := <-c.Events():
			switch e.Kind {
			case "engine-exit":
				sawExit = len(e.IDs) == 1 && e.IDs[0] == 1 && e.Exit.Signal == syscall.SIGKILL
			case "restart":
				sawRestart = len(e.IDs) == 1 && e.IDs[0] == 1
			}
		case <-deadline:
			t.Fatalf("events: exit %v restart %v", sawExit, sawRestart)
		}
	}
	st, _ = ReadState(c.ProfileDir())
	var again ProcRecord
	for _, r := range st.Records {
		if r.Role == "engines" && r.FirstID == 1 {
			again = r.Procs[0]
		}
	}
	if again.PID == 0 || again.PID == victim.PID || !alive(again.PID, again.Start) {
		t.Errorf("engine 1 not restarted: %+v", st.Records)
	}
	if again.ID != 1 {
		t.Errorf("restarted engine has id %d", again.ID)
	}
	all := st.Procs()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	assertAllGone(t, all)
	if _, err := ReadState(c.ProfileDir()); !errors.Is(err, ErrNoCluster) {
		t.Errorf("state after stop: %v", err)
	}
	if _, err := os.Stat(c.EngineFile()); err == nil {
		t.Error("connection file left behind")
	}
}

// TestStopProfileAfterSupervisorDied stops a cluster from its state file
// alone, as `pxsh cluster stop` does after the supervisor was killed.
func TestStopProfileAfterSupervisorDied(t *testing.T) {
	cfg := testConfig(t)
	// a dead supervisor restarts nothing
	cfg.DieWithLauncher, cfg.NoControllerRestart = false, true
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, _ := ReadState(c.ProfileDir())
	all := st.Procs()
	if len(all) != 4 {
		t.Fatalf("procs %+v", all)
	}
	// another process: only the directory is known
	if err := StopProfile(context.Background(), c.ProfileDir(), ExecRunner{}, time.Second); err != nil {
		t.Fatal(err)
	}
	assertAllGone(t, all)
	if _, err := ReadState(c.ProfileDir()); !errors.Is(err, ErrNoCluster) {
		t.Errorf("state after stop: %v", err)
	}
	if err := StopProfile(context.Background(), c.ProfileDir(), ExecRunner{}, time.Second); !errors.Is(err, ErrNoCluster) {
		t.Errorf("second stop: %v", err)
	}
	c.Stop(context.Background())
}

func TestClusterRefusesLoopbackForRemoteEngines(t *testing.T) {
	cfg := testConfig(t)
	cfg.Engines = "ssh"
	cfg.SSH.Hosts = []HostSpec{{"node1", 2}}
	cfg.N = 2
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	err = c.Start(context.Background())
	if !errors.Is(err, ErrLoopback) || !strings.Contains(err.Error(), "--location") {
		t.Fatalf("Start: %v, want ErrLoopback", err)
	}
}

// TestClusterSSHFlow runs the ssh backend through fake ssh/scp programs
// that execute the "remote" side locally.
func TestClusterSSHFlow(t *testing.T) {
	cfg := testConfig(t)
	bin := t.TempDir()
	cfg.Engines, cfg.N, cfg.LocalOnly = "ssh", 3, true
	cfg.SSH = SSHConfig{Hosts: []HostSpec{{"host1", 2}, {"host2", 0}}, SSH: launchertest.WriteScript(t, bin, "ssh", fakeSSH),
		SCP: launchertest.WriteScript(t, bin, "scp", fakeSCP), ShipBinary: true, RemoteDir: filepath.Join(t.TempDir(), "remote"),
		ConfigFile: "/dev/null"}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		c.Stop(context.Background())
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.SSH.RemoteDir, "pxsh")); err != nil {
		t.Errorf("binary not shipped: %v", err)
	}
	// the remote pids arrive on the ssh output
	var st *ClusterState
	waittest.Until(t, 10*time.Second, func() bool {
		st, _ = ReadState(c.ProfileDir())
		c.save(nil)
		n := 0
		for _, p := range st.Procs() {
			if p.RemotePID > 0 {
				n++
			}
		}
		return n == 3
	}, func() string { return fmt.Sprintf("the remote pids to be recorded: %+v", st.Records) })
	hosts := map[string]int{}
	var remote []ProcRecord
	for _, p := range st.Procs() {
		if p.Host != "" {
			hosts[p.Host]++
			remote = append(remote, ProcRecord{PID: p.RemotePID})
		}
	}
	if hosts["host1"] != 2 || hosts["host2"] != 1 {
		t.Errorf("hosts %v", hosts)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertAllGone(t, append(st.Procs(), remote...))
}

func TestPrivateClusterCleansUp(t *testing.T) {
	cfg := testConfig(t)
	cfg.ProfileDir, cfg.Private, cfg.DieWithLauncher = "", true, false
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := ReadState(c.ProfileDir())
	all := st.Procs()
	cancel()
	waitClosed(t, c.Done(), "private cluster stop")
	assertAllGone(t, all)
	if _, err := os.Stat(c.ProfileDir()); !os.IsNotExist(err) {
		t.Errorf("temporary profile left: %v", err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := &ClusterState{ProfileDir: dir, ClusterID: "x", Engines: "slurm", Controller: "local", NextID: 4,
		Started:    time.Unix(1700000000, 0).UTC(),
		Supervisor: &ProcRecord{PID: 1, Start: 2, ID: -1},
		Records: []Record{{Kind: "local", Role: "controller", Procs: []ProcRecord{{PID: 10, Start: 20, ID: -1}}},
			{Kind: "slurm", Role: "engines", JobID: "12", Cancel: []string{"scancel", "12"}, N: 4, Owner: 99},
			{Kind: "ssh", Role: "engines", FirstID: 4, N: 1, Procs: []ProcRecord{{PID: 11, ID: 4, Host: "h", RemotePID: 77, SSH: []string{"ssh", "h"}}}}}}
	if err := updateState(dir, func(s *ClusterState) (*ClusterState, error) {
		if s != nil {
			t.Errorf("state before write: %+v", s)
		}
		return in, nil
	}); err != nil {
		t.Fatal(err)
	}
	out, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if out.EngineCount() != 5 {
		t.Errorf("engines %d", out.EngineCount())
	}
	got := []string{out.Records[0].describe(), out.Records[1].describe(), out.Records[2].describe()}
	want := []string{"local controller (pid 10)", "slurm engines job 12 (engines 0-3)", "ssh engine (engine 4) on h (pid 11)"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("describe:\n got %q\nwant %q", got, want)
	}
	if err := updateState(dir, func(*ClusterState) (*ClusterState, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(dir); !errors.Is(err, ErrNoCluster) {
		t.Errorf("after remove: %v", err)
	}
}

// controllerProc returns the recorded controller process.
func controllerProc(t *testing.T, dir string) ProcRecord {
	t.Helper()
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Records {
		if r.Role == "controller" && len(r.Procs) == 1 {
			return r.Procs[0]
		}
	}
	t.Fatalf("no controller in %+v", st.Records)
	return ProcRecord{}
}

func TestControllerRestartedWithRestore(t *testing.T) {
	cfg := testConfig(t)
	cfg.N = 1
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer c.Stop(ctx)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitConnection(ctx); err != nil {
		t.Fatal(err)
	}
	victim := controllerProc(t, c.ProfileDir())
	syscall.Kill(victim.PID, syscall.SIGKILL)
	deadline := time.After(10 * time.Second)
	for restarted := false; !restarted; {
		select {
		case e := <-c.Events():
			restarted = e.Kind == "restart" && strings.Contains(e.What, "controller")
		case <-c.ControllerDone():
			t.Fatal("the controller was not restarted")
		case <-deadline:
			t.Fatal("no restart event")
		}
	}
	again := controllerProc(t, c.ProfileDir())
	if again.PID == victim.PID || !alive(again.PID, again.Start) {
		t.Fatalf("controller not restarted: %+v", again)
	}
	logPath := filepath.Join(c.ProfileDir(), "log", "controller.log")
	var b []byte
	waittest.Until(t, 10*time.Second, func() bool { b, _ = os.ReadFile(logPath); return strings.Contains(string(b), "--restore") },
		func() string { return fmt.Sprintf("the restarted controller's arguments to have --restore:\n%s", b) })
	// the engine was left alone
	st, _ := ReadState(c.ProfileDir())
	for _, r := range st.Records {
		if r.Role == "engines" && !anyAlive(r.Procs) {
			t.Errorf("engine stopped with the controller: %+v", r)
		}
	}
	all := st.Procs()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	assertAllGone(t, all)
	select {
	case <-c.ControllerDone():
	default:
		t.Error("ControllerDone open after Stop")
	}
}

func TestControllerNotRestarted(t *testing.T) {
	cfg := testConfig(t)
	cfg.N, cfg.NoControllerRestart = 0, true
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer c.Stop(ctx)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Once its files are written, the killed script leaves no child (mkdir,
	// mv) that writes into the profile after the test removed it.
	if _, err := c.WaitConnection(ctx); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(controllerProc(t, c.ProfileDir()).PID, syscall.SIGKILL)
	select {
	case <-c.ControllerDone():
	case <-time.After(10 * time.Second):
		t.Fatal("ControllerDone not closed")
	}
}

func TestRecordAndForgetProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profile_x")
	// a stale controller record is replaced
	if err := RecordProcess(dir, "controller", 1<<22+12345); err != nil {
		t.Fatal(err)
	}
	if err := RecordProcess(dir, "controller", os.Getpid()); err != nil {
		t.Fatal(err)
	}
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Records) != 1 || st.Records[0].Procs[0].PID != os.Getpid() || !st.Running() || st.Controller != "local" {
		t.Fatalf("state %+v", st)
	}
	if err := ForgetProcess(dir, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(dir); !errors.Is(err, ErrNoCluster) {
		t.Errorf("state after forget: %v", err)
	}
}
