package systemtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/protocol"
)

// The tests in this file drive the real systems with a stand-in pxsh (a
// shell script whose controller writes a connection file and whose
// engines sleep): they check the launchers' command flow, the job
// scripts and that stopping leaves nothing behind, without the real
// binary.

const fakePxsh = `#!/bin/sh
cmd=$1; shift
case $cmd in
controller)
  while [ $# -gt 0 ]; do case $1 in --profile-dir) dir=$2; shift;; esac; shift; done
  mkdir -p "$dir/security"
  for f in engine client; do
    printf '{"addresses":["127.0.0.1:9"],"fingerprint":"sha256:ab","key":"00112233445566778899aabbccddeeff","cluster_id":"fake-%s","version":%d,"pid":%d}\n' $$ VERSION $$ >"$dir/security/.tmp-$f"
    mv "$dir/security/.tmp-$f" "$dir/security/pxsh-$f.json"
  done
  exec sleep MARK;;
engine)
  echo "engine $* rank=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-${SLURM_PROCID:-}}}"
  case " $* " in
  *" --exit-on-stdin-eof "*) sleep MARK </dev/null & p=$!; cat >/dev/null; kill $p; exit 0;;
  esac
  exec sleep MARK;;
esac
exit 2
`

// fakeCluster returns a Config running the stand-in from a fresh
// directory (whose path identifies its processes).
func fakeCluster(t *testing.T, engines string) (launcher.Config, string) {
	t.Helper()
	bin := t.TempDir()
	mark := fmt.Sprintf("600.%d%04d", os.Getpid(), time.Now().Nanosecond()%10000)
	text := strings.ReplaceAll(fakePxsh, "VERSION", fmt.Sprint(protocol.Version))
	fake := writeExec(t, bin, "pxsh", strings.ReplaceAll(text, "MARK", mark))
	return launcher.Config{ProfileDir: filepath.Join(t.TempDir(), "profile_sys"), Binary: fake, Engines: engines, N: 4,
		LocalOnly: true, Grace: scale(5 * time.Second), PollInterval: 500 * time.Millisecond,
		StartTimeout: scale(30 * time.Second), DieWithLauncher: true}, mark
}

// runFake starts the cluster, waits for 4 stand-in engines (sleep MARK:
// the controller runs one more), stops it and checks that no process
// (and, via check, no job) is left.
func runFake(t *testing.T, cfg launcher.Config, mark string, check func(st *launcher.ClusterState)) {
	t.Helper()
	c, err := launcher.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Cleanup(func() { c.Stop(context.Background()) })
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := launcher.ReadState(c.ProfileDir())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "4 engines running", func() bool {
		return len(procsMatching("sleep "+mark)) >= 5
	})
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	assertNoProcs(t, mark)
	assertNoProcs(t, filepath.Dir(cfg.Binary))
	if check != nil {
		check(st)
	}
}

func jobID(t *testing.T, st *launcher.ClusterState) string {
	t.Helper()
	for _, r := range st.Records {
		if r.JobID != "" {
			return r.JobID
		}
	}
	t.Fatalf("no job recorded: %+v", st.Records)
	return ""
}

func TestFakeSlurm(t *testing.T) {
	need(t, "sbatch", "squeue", "scancel", "srun")
	cfg, bin := fakeCluster(t, "slurm")
	runFake(t, cfg, bin, func(st *launcher.ClusterState) {
		id := jobID(t, st)
		out := run(t, "squeue", "-h", "-t", "all", "-o", "%T", "-j", id)
		if strings.Contains(out, "RUNNING") || strings.Contains(out, "PENDING") {
			t.Errorf("job %s still %s", id, out)
		}
	})
}

func TestFakePBS(t *testing.T) {
	pbs := os.Getenv("PXSH_PBS_DIR")
	if pbs == "" {
		pbs = "/opt/slurm-pbs/bin"
	}
	need(t, pbs+"/qsub", "mpiexec.openmpi")
	cfg, bin := fakeCluster(t, "pbs")
	cfg.Batch.Submit = []string{pbs + "/qsub"}
	cfg.Batch.Cancel = []string{pbs + "/qdel"}
	cfg.Batch.Query = []string{pbs + "/qstat"}
	cfg.Batch.MPIExec = "mpiexec.openmpi --allow-run-as-root --oversubscribe --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo"
	runFake(t, cfg, bin, func(st *launcher.ClusterState) {
		id := jobID(t, st)
		out, _ := exec.Command(pbs+"/qstat", id).CombinedOutput()
		if strings.Contains(string(out), " R ") || strings.Contains(string(out), " Q ") {
			t.Errorf("job %s still listed:\n%s", id, out)
		}
	})
}

func TestFakeSGE(t *testing.T) {
	if os.Getenv("SGE_ROOT") == "" {
		t.Setenv("SGE_ROOT", "/var/lib/gridengine")
		t.Setenv("SGE_CELL", "default")
	}
	need(t, "/usr/bin/qsub", "qstat", "qdel", "qconf")
	cfg, bin := fakeCluster(t, "sge")
	cfg.Batch.Submit = []string{"/usr/bin/qsub", "-terse"}
	cfg.Batch.Cancel = []string{"/usr/bin/qdel"}
	cfg.Batch.Query = []string{"/usr/bin/qstat", "-j"}
	runFake(t, cfg, bin, func(st *launcher.ClusterState) {
		id := jobID(t, st)
		if err := exec.Command("/usr/bin/qstat", "-j", id).Run(); err == nil {
			t.Errorf("job %s still listed", id)
		}
	})
}

func TestFakeMPI(t *testing.T) {
	for _, mpiexec := range []string{"mpiexec.openmpi", "mpiexec.mpich"} {
		t.Run(mpiexec, func(t *testing.T) {
			need(t, mpiexec)
			cfg, bin := fakeCluster(t, "mpi")
			cfg.MPI.Command = mpiexec
			runFake(t, cfg, bin, nil)
		})
	}
}

func TestFakeSSH(t *testing.T) {
	conf := filepath.Join(sshdDir(), "ssh_config")
	need(t, "ssh", "scp")
	if _, err := os.Stat(conf); err != nil {
		t.Skipf("system test: no %s (run scripts/ci/sshd-up.sh)", conf)
	}
	cfg, bin := fakeCluster(t, "ssh")
	hosts, _ := launcher.ParseHosts("host1:2,host2:2")
	cfg.SSH = launcher.SSHConfig{Hosts: hosts, ConfigFile: conf, RemoteBinary: cfg.Binary,
		RemoteDir: filepath.Join(t.TempDir(), "remote")}
	runFake(t, cfg, bin, nil)
}
