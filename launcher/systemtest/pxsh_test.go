package systemtest

import (
	"context"
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

	"github.com/pxsh/pxsh/launcher"
)

// The tests in this file run the real pxsh binary (built once from
// ./cmd/pxsh, or $PXSH_BINARY): `pxsh cluster start --engines X -n 4
// --daemonize --wait`, a map over the engines with `pxsh -c`, then `pxsh
// cluster stop`, and check that no process and no job is left.

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func pxshBinary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("PXSH_BINARY"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "pxsh-systemtest-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "pxsh")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/pxsh")
		cmd.Dir = filepath.Join("..", "..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/pxsh: %v", buildErr)
	}
	return buildBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// pxshEnv is one test's $PXSH_DIR and environment.
type pxshEnv struct {
	t      testing.TB
	bin    string
	dir    string   // PXSH_DIR
	env    []string // environment of every pxsh command
	prefix []string // command prefix (ip netns exec NS)
}

func newPxsh(t testing.TB) *pxshEnv {
	t.Helper()
	dir := t.TempDir()
	e := &pxshEnv{t: t, bin: pxshBinary(t), dir: dir, env: append(os.Environ(), "PXSH_DIR="+dir)}
	t.Cleanup(func() {
		// whatever happened, leave nothing behind
		e.pxsh(60*time.Second, "cluster", "stop", "--all")
	})
	return e
}

func (e *pxshEnv) profileDir() string { return filepath.Join(e.dir, "profile_default") }

// pxsh runs the binary and returns its combined output and error.
func (e *pxshEnv) pxsh(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scale(timeout))
	defer cancel()
	argv := append(append(append([]string(nil), e.prefix...), e.bin), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = e.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *pxshEnv) mustPxsh(timeout time.Duration, args ...string) string {
	e.t.Helper()
	out, err := e.pxsh(timeout, args...)
	if err != nil {
		e.t.Fatalf("pxsh %s: %v\n%s\n--- cluster log:\n%s", strings.Join(args, " "), err, out, e.clusterLog())
	}
	return out
}

func (e *pxshEnv) clusterLog() string {
	var b strings.Builder
	logs, _ := filepath.Glob(filepath.Join(e.profileDir(), "log", "*"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		b.WriteString("== " + filepath.Base(l) + "\n" + string(data))
	}
	return b.String()
}

func (e *pxshEnv) writeConfig(text string) {
	e.t.Helper()
	if err := os.MkdirAll(e.profileDir(), 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.profileDir(), "pxsh_config.star"), []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

const mapScript = `rc = Client()
print(sorted(rc.ids))
print(rc[:].map_sync(lambda x: x*2, range(8)))`

// startMapStop is the acceptance check for one backend.
func startMapStop(t *testing.T, e *pxshEnv, startArgs ...string) *launcher.ClusterState {
	t.Helper()
	return startMapStopN(t, e, 4, startArgs...)
}

func startMapStopN(t *testing.T, e *pxshEnv, n int, startArgs ...string) *launcher.ClusterState {
	t.Helper()
	args := append([]string{"cluster", "start", "-n", strconv.Itoa(n), "--daemonize", "--wait", "--timeout", scale(90 * time.Second).String()}, startArgs...)
	start := time.Now()
	e.mustPxsh(150*time.Second, args...)
	t.Logf("%d engines registered after %v", n, time.Since(start).Round(time.Millisecond))
	st, err := launcher.ReadState(e.profileDir())
	if err != nil {
		t.Fatal(err)
	}
	out := e.mustPxsh(60*time.Second, "-c", mapScript)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	if want := "[" + strings.Join(ids, ", ") + "]\n[0, 2, 4, 6, 8, 10, 12, 14]\n"; out != want {
		t.Errorf("map output %q, want %q", out, want)
	}
	list := e.mustPxsh(30*time.Second, "cluster", "list")
	if !strings.Contains(list, "default") || !strings.Contains(list, "True") {
		t.Errorf("cluster list:\n%s", list)
	}
	e.mustPxsh(120*time.Second, "cluster", "stop")
	assertNoProcs(t, e.dir)
	if _, err := launcher.ReadState(e.profileDir()); err == nil {
		t.Error("cluster.json left after stop")
	}
	return st
}

func TestPxshLocal(t *testing.T) {
	need(t)
	e := newPxsh(t)
	startMapStop(t, e)
}

func TestPxshMPI(t *testing.T) {
	for _, mpiexec := range []string{"mpiexec.openmpi", "mpiexec.mpich"} {
		t.Run(mpiexec, func(t *testing.T) {
			need(t, mpiexec)
			e := newPxsh(t)
			startMapStop(t, e, "--engines", "mpi", "--mpiexec", mpiexec)
		})
	}
}

func TestPxshSlurm(t *testing.T) {
	need(t, "sbatch", "squeue", "srun")
	logSlurmOnFailure(t)
	e := newPxsh(t)
	// single node: loopback is right, and is refused without --local-only
	out, err := e.pxsh(60*time.Second, "cluster", "start", "-n", "4", "--engines", "slurm", "--ip", "127.0.0.1")
	if err == nil || !strings.Contains(out, "--location") {
		t.Errorf("loopback controller for slurm engines accepted: %v\n%s", err, out)
	}
	st := startMapStop(t, e, "--engines", "slurm", "--local-only")
	id := jobID(t, st)
	eventually(t, 30*time.Second, "slurm job "+id+" gone", func() bool {
		out, _ := exec.Command("squeue", "-h", "-t", "PD,R,CG,S", "-j", id).CombinedOutput()
		return !strings.Contains(string(out), id)
	})
}

// logSlurmOnFailure logs Slurm's view of its jobs and nodes when t fails:
// a batch job that never starts leaves an empty engine log.
func logSlurmOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, cmd := range [][]string{{"squeue", "-a", "-l"}, {"sinfo", "-N", "-l"}} {
			out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
			t.Logf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
		}
	})
}

func TestPxshPBS(t *testing.T) {
	pbs := os.Getenv("PXSH_PBS_DIR")
	if pbs == "" {
		pbs = "/opt/slurm-pbs/bin"
	}
	need(t, pbs+"/qsub", "mpiexec.openmpi")
	logSlurmOnFailure(t)
	e := newPxsh(t)
	e.writeConfig(`
_pbs = "` + pbs + `"
submit_command = [_pbs + "/qsub"]
cancel_command = [_pbs + "/qdel"]
query_command = [_pbs + "/qstat"]
batch_mpiexec = "mpiexec.openmpi --allow-run-as-root --oversubscribe --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo"
`)
	st := startMapStop(t, e, "--engines", "pbs", "--local-only")
	id := jobID(t, st)
	eventually(t, 30*time.Second, "pbs job "+id+" gone", func() bool {
		out, _ := exec.Command(pbs+"/qstat", id).CombinedOutput()
		return !strings.Contains(string(out), " R ") && !strings.Contains(string(out), " Q ")
	})
}

func TestPxshSGE(t *testing.T) {
	if os.Getenv("SGE_ROOT") == "" {
		t.Setenv("SGE_ROOT", "/var/lib/gridengine")
		t.Setenv("SGE_CELL", "default")
	}
	need(t, "/usr/bin/qsub", "qconf")
	e := newPxsh(t)
	e.writeConfig(`
submit_command = ["/usr/bin/qsub", "-terse"]
cancel_command = ["/usr/bin/qdel"]
query_command = ["/usr/bin/qstat", "-j"]
`)
	st := startMapStop(t, e, "--engines", "sge", "--local-only")
	id := jobID(t, st)
	eventually(t, 30*time.Second, "sge job "+id+" gone", func() bool {
		return exec.Command("/usr/bin/qstat", "-j", id).Run() != nil
	})
}

func TestPxshSSH(t *testing.T) {
	conf := filepath.Join(sshdDir(), "ssh_config")
	need(t, "ssh", "scp")
	if _, err := os.Stat(conf); err != nil {
		t.Skipf("system test: no %s (run scripts/ci/sshd-up.sh)", conf)
	}
	e := newPxsh(t)
	e.writeConfig(`remote_dir = "` + filepath.Join(e.dir, "remote") + `"` + "\n")
	startMapStop(t, e, "--engines", "ssh", "--hosts", "host1:2,host2:2", "--ssh-config", conf, "--ship-binary", "--local-only")
}

// TestPxshNetns runs the controller in namespace pxsh-h1 and engines over
// ssh in pxsh-h2 and pxsh-h3 (scripts/ci/netns-up.sh with
// PXSH_NETNS_SSHD=1): three hosts that reach each other only through
// 10.200.0.x.
func TestPxshNetns(t *testing.T) {
	conf := filepath.Join(netnsDir(), "ssh", "ssh_config")
	need(t, "ip", "ssh")
	if _, err := os.Stat(conf); err != nil {
		t.Skipf("system test: no %s (run PXSH_NETNS_SSHD=1 scripts/ci/netns-up.sh)", conf)
	}
	e := newPxsh(t)
	e.prefix = []string{"ip", "netns", "exec", "pxsh-h1"}
	e.writeConfig(`remote_dir = "` + filepath.Join(e.dir, "remote") + `"` + "\n")
	// the controller's loopback address is refused for remote engines
	out, err := e.pxsh(60*time.Second, "cluster", "start", "-n", "4", "--engines", "ssh", "--hosts", "h2:2,h3:2",
		"--ssh-config", conf, "--ip", "127.0.0.1", "--location", "127.0.0.1")
	if err == nil || !strings.Contains(out, "loopback") {
		t.Errorf("loopback controller accepted for ssh engines: %v\n%s", err, out)
	}
	startMapStop(t, e, "--engines", "ssh", "--hosts", "h2:2,h3:2", "--ssh-config", conf,
		"--ip", "10.200.0.1", "--location", "10.200.0.1", "--ship-binary")
}

// TestPxshRestart kills one engine under the local and MPI launchers:
// the supervisor reports it and, with --restart-engines, brings it back
// with its old id.
func TestPxshRestart(t *testing.T) {
	for _, backend := range []string{"local", "mpiexec.openmpi", "mpiexec.mpich"} {
		t.Run(backend, func(t *testing.T) {
			args := []string{"cluster", "start", "-n", "4", "--daemonize", "--wait", "--restart-engines"}
			if backend != "local" {
				need(t, backend)
				args = append(args, "--engines", "mpi", "--mpiexec", backend)
			} else {
				need(t)
			}
			e := newPxsh(t)
			e.mustPxsh(150*time.Second, args...)
			victim := enginePID(t, e, 2)
			syscall.Kill(victim, syscall.SIGKILL)
			logPath := filepath.Join(e.profileDir(), "log", "cluster.log")
			eventually(t, 30*time.Second, "restart reported in cluster.log", func() bool {
				b, _ := os.ReadFile(logPath)
				return strings.Contains(string(b), "ended unexpectedly") && strings.Contains(string(b), "restarted")
			})
			eventually(t, 60*time.Second, "engine 2 back", func() bool {
				p := findEngine(e, 2)
				return p != 0 && p != victim
			})
			// the hub may still hold the dead engine's registration for a
			// moment (until its heartbeat fails): retry until the new
			// engine 2 answers
			var out string
			until(t, 90*time.Second, func() bool {
				out, _ = e.pxsh(60*time.Second, "-c", `rc = Client()
rc.wait_for_engines(4, timeout=60)
print(sorted(rc.ids))
print(rc[2].apply_sync(lambda: 42))`)
				return out == "[0, 1, 2, 3]\n42\n"
			}, func() string {
				return fmt.Sprintf("engine 2 does not answer after the restart; last try:\n%s\n%s", out, e.clusterLog())
			})
			b, _ := os.ReadFile(logPath)
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "pxsh cluster:") {
					t.Log(l)
				}
			}
			e.mustPxsh(120*time.Second, "cluster", "stop")
			assertNoProcs(t, e.dir)
		})
	}
}

// findEngine returns the pid of the engine process with the given id
// (--id N, or the MPI rank), 0 if none.
func findEngine(e *pxshEnv, id int) int {
	for _, pid := range procsMatching(e.dir) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) < 2 || args[0] != e.bin || args[1] != "engine" {
			continue
		}
		for i, a := range args {
			if a == "--id" && i+1 < len(args) && args[i+1] == strconv.Itoa(id) {
				return pid
			}
			if a == "--mpi" {
				env, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
				r := strconv.Itoa(id)
				if strings.Contains(string(env), "\x00OMPI_COMM_WORLD_RANK="+r+"\x00") || strings.Contains(string(env), "\x00PMI_RANK="+r+"\x00") {
					return pid
				}
			}
		}
	}
	return 0
}

func enginePID(t *testing.T, e *pxshEnv, id int) int {
	t.Helper()
	var pid int
	eventually(t, 30*time.Second, "engine process", func() bool { pid = findEngine(e, id); return pid != 0 })
	return pid
}

// TestPxshSSHController runs the controller on host2 over ssh (ssh -tt:
// it dies with the connection) and local engines.
func TestPxshSSHController(t *testing.T) {
	conf := filepath.Join(sshdDir(), "ssh_config")
	need(t, "ssh", "scp")
	if _, err := os.Stat(conf); err != nil {
		t.Skipf("system test: no %s (run scripts/ci/sshd-up.sh)", conf)
	}
	e := newPxsh(t)
	e.writeConfig(`remote_dir = "` + filepath.Join(e.dir, "remote") + `"` + "\n")
	startMapStop(t, e, "--controller", "ssh", "--controller-host", "host2", "--ssh-config", conf, "--ship-binary", "--local-only")
}

// TestPxshSlurmController runs the controller and the engines as two
// Slurm jobs (3 engines: the test node has 4 CPUs and the controller
// takes one).
func TestPxshSlurmController(t *testing.T) {
	need(t, "sbatch", "squeue", "srun")
	e := newPxsh(t)
	st := startMapStopN(t, e, 3, "--controller", "slurm", "--engines", "slurm", "--local-only")
	for _, r := range st.Records {
		if r.JobID == "" {
			t.Errorf("record without job: %+v", r)
			continue
		}
		eventually(t, 30*time.Second, "slurm job "+r.JobID+" gone", func() bool {
			out, _ := exec.Command("squeue", "-h", "-t", "PD,R,CG,S", "-j", r.JobID).CombinedOutput()
			return !strings.Contains(string(out), r.JobID)
		})
	}
}
