package program_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/internal/waittest"
	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/profile"
)

// pxshEnv runs the pxsh binary with PXSH_DIR=root and returns its
// combined output.
func pxshEnv(t *testing.T, root string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second*clustertest.Scale())
	defer cancel()
	cmd := exec.CommandContext(ctx, clustertest.Binary(t), args...)
	cmd.Env = append(os.Environ(), "PXSH_DIR="+root)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustPxsh is pxshEnv failing the test on error.
func mustPxsh(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, err := pxshEnv(t, root, args...)
	if err != nil {
		t.Fatalf("pxsh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// procsMentioning returns the live processes whose command line contains
// s (a test's temporary directory: only processes this test started).
func procsMentioning(s string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		st, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := strings.LastIndexByte(string(st), ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// startCluster runs `pxsh cluster start -n N --daemonize --wait` in a
// fresh PXSH_DIR and stops it (checking nothing is left) at the end.
func startCluster(t *testing.T, n int) (root, dir string) {
	t.Helper()
	root = t.TempDir()
	dir = profile.Dir(root, "default")
	t.Cleanup(func() {
		pxshEnv(t, root, "cluster", "stop")
		if t.Failed() {
			for _, f := range []string{"cluster.log", "controller.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, "log", f))
				t.Logf("%s:\n%s", f, b)
			}
		}
	})
	mustPxsh(t, root, "cluster", "start", "-n", strconv.Itoa(n), "--daemonize", "--wait")
	return root, dir
}

// assertAllStopped runs `pxsh cluster stop` and checks that no process of
// the test's profile is left.
func assertAllStopped(t *testing.T, root string) {
	t.Helper()
	mustPxsh(t, root, "cluster", "stop")
	var left []string
	waittest.Until(t, 10*time.Second, func() bool { left = procsMentioning(root); return len(left) == 0 },
		func() string { return "no process left after cluster stop:\n" + strings.Join(left, "\n") })
}

func controllerPID(t *testing.T, dir string) int {
	t.Helper()
	c, err := profile.Read(profile.ConnectionPath(dir, false))
	if err != nil {
		t.Fatal(err)
	}
	return c.PID
}

// TestControllerKilledUnderSupervisor kills the controller of a `pxsh
// cluster start` cluster in the middle of a load-balanced map: the
// supervisor restarts it with --restore, the engines come back with their
// ids and namespaces, and every task ends exactly once with its value or
// a named error.
func TestControllerKilledUnderSupervisor(t *testing.T) {
	if testing.Short() {
		t.Skip("controller crash test")
	}
	root, dir := startCluster(t, 2)
	before, err := profile.Read(profile.ConnectionPath(dir, false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second*clustertest.Scale())
	defer cancel()
	cl, err := client.Dial(ctx, profile.ConnectionPath(dir, false), client.Options{Reconnect: 60 * time.Second * clustertest.Scale()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.WaitForEngines(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := cl.View(0, 1).Execute(ctx, "marker = 42"); err != nil {
		t.Fatal(err)
	}

	// half the map without retries, half with
	n := 500
	if v, err := strconv.Atoi(os.Getenv("PXSH_FAULT_TASKS")); err == nil && v > 0 {
		n = v // for measuring
	}
	plain := cl.LoadBalanced(client.TaskOptions{})
	retried := cl.LoadBalanced(client.TaskOptions{Retries: 2})
	tasks := make([]*client.Task, n)
	for i := range tasks {
		lv := plain
		if i%2 == 1 {
			lv = retried
		}
		if tasks[i], err = lv.ApplyAsync("lambda x: (time.sleep(0.01), x * x)[1]", i); err != nil {
			t.Fatal(err)
		}
	}
	clustertest.Eventually(t, 60*time.Second, "some results before the kill", func() bool {
		done := 0
		for _, tk := range tasks {
			if tk.Ready() {
				done++
			}
		}
		return done >= 40
	})
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	atKill := 0
	for _, tk := range tasks {
		if tk.Ready() {
			atKill++
		}
	}

	if err := (&client.AsyncResult{Tasks: tasks}).Wait(ctx); err != nil {
		t.Fatalf("tasks did not all end: %v", err)
	}
	ok, named := 0, map[string]int{}
	for i, tk := range tasks {
		r, body := tk.Result()
		if r.Error != nil {
			named[r.Error.Name]++
			continue
		}
		v, err := client.Decode(body)
		if err != nil || v != int64(i*i) {
			t.Fatalf("task %d = %v, %v; want %d", i, v, err, i*i)
		}
		ok++
	}
	t.Logf("%d tasks done at the kill; %d of %d ok, errors %v, %d stray results", atKill, ok, n, named, cl.Strays())
	for name := range named {
		// TaskLost and EngineError are the restore's named outcomes; a
		// ConnectionError or KeyError would mean the kill lost tasks
		if name != "TaskLost" && name != "EngineError" {
			t.Errorf("%d tasks failed with %s", named[name], name)
		}
	}

	after, err := profile.Read(profile.ConnectionPath(dir, false))
	if err != nil {
		t.Fatal(err)
	}
	if after.PID == before.PID || !slices.Equal(after.Addresses, before.Addresses) ||
		after.Fingerprint != before.Fingerprint || after.Key != before.Key || after.ClusterID != before.ClusterID {
		t.Errorf("restored controller: %+v, before %+v", after, before)
	}
	if err := cl.WaitForEngines(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if ids := cl.Ids(); !slices.Equal(ids, []int{0, 1}) {
		t.Errorf("engine ids after the restart: %v", ids)
	}
	vals, err := cl.View(0, 1).Pull(ctx, "marker")
	if err != nil || len(vals) != 2 || vals[0] != int64(42) || vals[1] != int64(42) {
		t.Errorf("namespaces after the restart: %v, %v", vals, err)
	}
	if out := mustPxsh(t, root, "cluster", "list"); !strings.Contains(out, "True") {
		t.Errorf("cluster list after the restart:\n%s", out)
	}
	cl.Close()
	assertAllStopped(t, root)
}

// TestSupervisorKilled: with the supervisor SIGKILLed, the controller and
// engines keep serving and `pxsh cluster stop` still stops everything.
func TestSupervisorKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	root, dir := startCluster(t, 1)
	st, err := launcher.ReadState(dir)
	if err != nil || st.Supervisor == nil {
		t.Fatalf("no supervisor recorded: %v", err)
	}
	if err := syscall.Kill(st.Supervisor.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 10*time.Second, "the supervisor to die", func() bool { return !launcher.Alive(st.Supervisor.PID) })
	out := mustPxsh(t, root, "-c", "rc = Client()\nrc.wait_for_engines(1)\nprint(rc[0].apply_sync(lambda: 6 * 7))")
	if strings.TrimSpace(out) != "42" {
		t.Errorf("pxsh -c after the supervisor died: %q", out)
	}
	assertAllStopped(t, root)
}

// TestHandStartedController: `pxsh controller --restore --daemonize` is
// recorded in the profile, and a recorded controller that is down makes
// `pxsh -c` say so instead of starting a private cluster.
func TestHandStartedController(t *testing.T) {
	if testing.Short() {
		t.Skip("starts controllers")
	}
	root := t.TempDir()
	dir := profile.Dir(root, "default")
	t.Cleanup(func() { pxshEnv(t, root, "cluster", "stop") })
	mustPxsh(t, root, "controller", "--daemonize")
	if out := mustPxsh(t, root, "cluster", "list"); !strings.Contains(out, "True") {
		t.Errorf("cluster list does not show the controller:\n%s", out)
	}
	pid := controllerPID(t, dir)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 10*time.Second, "the controller to die", func() bool { return !launcher.Alive(pid) })
	out, err := pxshEnv(t, root, "-n", "1", "-c", "print(len(Client().ids))")
	if err == nil || !strings.Contains(out, "not reachable") || !strings.Contains(out, profile.ConnectionPath(dir, false)) {
		t.Errorf("pxsh -c with the recorded controller down: %v\n%s", err, out)
	}
	if out, err := pxshEnv(t, root, "controller", "--restore", "--daemonize"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "controller.log"))
		t.Fatalf("controller --restore: %v\n%s\n%s", err, out, log)
	}
	if out := mustPxsh(t, root, "cluster", "list"); !strings.Contains(out, "True") {
		t.Errorf("cluster list does not show the restored controller:\n%s", out)
	}
	assertAllStopped(t, root)
	if _, err := os.Stat(launcher.StatePath(dir)); err == nil {
		t.Errorf("cluster.json left after cluster stop")
	}
}

// TestPrivateDirOfKilledRunIsCleaned: a SIGKILLed `pxsh run` leaves its
// private cluster directory behind; the next private cluster removes it.
func TestPrivateDirOfKilledRunIsCleaned(t *testing.T) {
	if testing.Short() {
		t.Skip("starts private clusters")
	}
	tmp, root := t.TempDir(), t.TempDir()
	script := filepath.Join(t.TempDir(), "wait.star")
	if err := os.WriteFile(script, []byte("rc = Client()\nprint('ready')\ntime.sleep(60)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(clustertest.Binary(t), "-n", "1", "run", script)
	cmd.Env = append(os.Environ(), "PXSH_DIR="+root, "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	buf := make([]byte, 16)
	if n, err := out.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "ready") {
		t.Fatalf("pxsh run: %q, %v", buf[:n], err)
	}
	dirs, _ := filepath.Glob(filepath.Join(tmp, "pxsh-private-*"))
	if len(dirs) != 1 {
		t.Fatalf("private cluster directories: %v", dirs)
	}
	cmd.Process.Kill()
	cmd.Wait()
	clustertest.Eventually(t, 10*time.Second, "the engine of the killed run to end", func() bool {
		return len(procsMentioning(dirs[0])) == 0
	})
	if _, err := os.Stat(dirs[0]); err != nil {
		t.Fatalf("the killed run's directory is already gone: %v", err)
	}
	again := exec.Command(clustertest.Binary(t), "-n", "1", "-c", "print(len(Client().ids))")
	again.Env = cmd.Env
	if b, err := again.CombinedOutput(); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("second private cluster: %v\n%s", err, b)
	}
	if _, err := os.Stat(dirs[0]); !os.IsNotExist(err) {
		t.Errorf("stale private directory %s not removed: %v", dirs[0], err)
	}
}

// TestSecondControllerRefused: `pxsh controller` in a profile whose
// controller runs refuses to start; it used to overwrite the connection
// files, leaving the running cluster unreachable once it exited.
func TestSecondControllerRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts controllers")
	}
	root := t.TempDir()
	dir := profile.Dir(root, "default")
	t.Cleanup(func() { pxshEnv(t, root, "cluster", "stop") })
	mustPxsh(t, root, "controller", "--daemonize")
	before, err := os.ReadFile(profile.ConnectionPath(dir, false))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"controller", "--daemonize"}, {"controller"}} {
		out, err := pxshEnv(t, root, args...)
		if err == nil || !strings.Contains(out, "a controller is already running") {
			t.Errorf("pxsh %s with a controller running: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	after, err := os.ReadFile(profile.ConnectionPath(dir, false))
	if err != nil || string(after) != string(before) {
		t.Errorf("the connection file changed: %v", err)
	}
	if out := mustPxsh(t, root, "-c", "print(len(Client().ids))"); strings.TrimSpace(out) != "0" {
		t.Errorf("pxsh -c after the refusals: %q", out)
	}
	assertAllStopped(t, root)
}
