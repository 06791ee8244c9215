package launcher

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeRunner records command lines and answers from a table keyed by
// argv[0].
type fakeRunner struct {
	mu      sync.Mutex
	calls   [][]string
	stdins  []string
	answers map[string]func(argv []string) (string, error)
}

func (f *fakeRunner) Run(ctx context.Context, stdin io.Reader, argv ...string) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, append([]string(nil), argv...))
	in := ""
	if stdin != nil {
		b, _ := io.ReadAll(stdin)
		in = string(b)
	}
	f.stdins = append(f.stdins, in)
	ans := f.answers[argv[0]]
	f.mu.Unlock()
	if ans == nil {
		return nil, nil
	}
	out, err := ans(argv)
	return []byte(out), err
}

func (f *fakeRunner) Calls() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.calls...)
}

func testData() TemplateData {
	return TemplateData{N: 4, FirstID: 0, Queue: "debug", Account: "proj", Walltime: "01:00:00",
		ClusterID: "c1", ProfileDir: "/p", Output: "/p/log/out.log", Program: "/bin/pxsh",
		Args: "engine --file /p/security/pxsh-engine.json", Command: "/bin/pxsh engine --file /p/security/pxsh-engine.json --mpi",
		MPIExec: "mpiexec"}
}

func TestTemplates(t *testing.T) {
	tests := []struct {
		system string
		want   []string
	}{
		{"slurm", []string{"#SBATCH --ntasks=4", "#SBATCH --partition=debug", "#SBATCH --account=proj",
			"#SBATCH --time=01:00:00", "#SBATCH --output=/p/log/out.log", "#SBATCH --job-name=pxsh-engines-c1",
			"exec srun /bin/pxsh engine --file /p/security/pxsh-engine.json --mpi"}},
		{"pbs", []string{"#PBS -l nodes=1:ppn=4", "#PBS -q debug", "#PBS -A proj", "#PBS -l walltime=01:00:00",
			"#PBS -o /p/log/out.log", "exec mpiexec -n 4 /bin/pxsh engine --file /p/security/pxsh-engine.json --mpi"}},
		{"sge", []string{"#$ -t 1-4", "#$ -q debug", "#$ -l h_rt=01:00:00", "#$ -o /p/log/out.log",
			"exec /bin/pxsh engine --file /p/security/pxsh-engine.json --id $(( 0 + SGE_TASK_ID - 1 ))"}},
		{"lsf", []string{"#BSUB -J pxsh-engines[1-4]", "#BSUB -q debug", "#BSUB -P proj", "#BSUB -W 01:00:00",
			"#BSUB -o /p/log/out.log", "exec /bin/pxsh engine --file /p/security/pxsh-engine.json --id $(( 0 + LSB_JOBINDEX - 1 ))"}},
	}
	for _, tt := range tests {
		t.Run(tt.system, func(t *testing.T) {
			sys, err := SystemByName(tt.system)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewBatch(BatchSpec{System: sys, Role: "engines", Data: testData()})
			if err != nil {
				t.Fatal(err)
			}
			s, err := b.Script()
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(s, "\n")
			if lines[0] != "#!/bin/sh" {
				t.Errorf("first line %q", lines[0])
			}
			for _, w := range tt.want {
				if !containsLine(lines, w) {
					t.Errorf("script lacks line %q:\n%s", w, s)
				}
			}
			// optional lines vanish when empty
			d := testData()
			d.Queue, d.Account, d.Walltime = "", "", ""
			b2, _ := NewBatch(BatchSpec{System: sys, Role: "engines", Data: d})
			s2, _ := b2.Script()
			for _, bad := range []string{"debug", "proj", "01:00:00", "\n\n"} {
				if strings.Contains(s2, bad) {
					t.Errorf("script without queue/account/walltime contains %q:\n%s", bad, s2)
				}
			}
			// controller template
			cd := testData()
			cd.Command = "/bin/pxsh controller --profile-dir /p"
			cb, err := NewBatch(BatchSpec{System: sys, Role: "controller", Data: cd})
			if err != nil {
				t.Fatal(err)
			}
			cs, _ := cb.Script()
			if !containsLine(strings.Split(cs, "\n"), "exec /bin/pxsh controller --profile-dir /p") {
				t.Errorf("controller script:\n%s", cs)
			}
		})
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestTemplateErrors(t *testing.T) {
	sys, _ := SystemByName("slurm")
	if _, err := NewBatch(BatchSpec{System: sys, Template: "{{.N"}); err == nil {
		t.Error("bad template syntax accepted")
	}
	b, err := NewBatch(BatchSpec{System: sys, Template: "{{.Nope}}"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Script(); err == nil {
		t.Error("unknown field rendered")
	}
	sys.JobIDRegexp = "("
	if _, err := NewBatch(BatchSpec{System: sys}); err == nil {
		t.Error("bad regexp accepted")
	}
	if _, err := SystemByName("condor"); err == nil {
		t.Error("unknown system accepted")
	}
}

func TestParseJobID(t *testing.T) {
	tests := []struct{ system, out, want string }{
		{"slurm", "1234\n", "1234"},
		{"slurm", "1234;cluster\n", "1234"},
		{"pbs", "5\n", "5"},
		{"pbs", "5.server.example\n", "5.server.example"},
		{"sge", "77.1-4:1\n", "77"},
		{"sge", "78\n", "78"},
		{"lsf", "Job <4321> is submitted to queue <normal>.\n", "4321"},
	}
	for _, tt := range tests {
		sys, _ := SystemByName(tt.system)
		got, err := ParseJobID(regexp.MustCompile(sys.JobIDRegexp), tt.out)
		if err != nil || got != tt.want {
			t.Errorf("%s %q: got %q, %v; want %q", tt.system, tt.out, got, err, tt.want)
		}
	}
	if _, err := ParseJobID(regexp.MustCompile(`Job <(\d+)>`), "error: no queue"); err == nil {
		t.Error("no job id: want error")
	}
	got, _ := ParseJobID(regexp.MustCompile(`\d+`), "Submitted batch job 99")
	if got != "99" {
		t.Errorf("whole match: got %q", got)
	}
}

func TestJobGone(t *testing.T) {
	tests := []struct {
		system, out string
		err         error
		want        bool
	}{
		{"slurm", "RUNNING", nil, false},
		{"slurm", "PENDING\nRUNNING", nil, false},
		{"slurm", "COMPLETED", nil, true},
		{"slurm", "CANCELLED\nCANCELLED", nil, true},
		{"slurm", "", nil, true},
		{"slurm", "", fmt.Errorf("slurm_load_jobs error: Invalid job id specified"), true},
		{"slurm", "", fmt.Errorf("connection refused"), false},
		{"pbs", "Job id  Name  User  Time Use S Queue\n------- ----\n5  pxsh-engines  root  0  R  debug", nil, false},
		{"pbs", "Job id  Name  User  Time Use S Queue\n------- ----\n5  pxsh-engines  root  0  C  debug", nil, true},
		{"pbs", "", fmt.Errorf("qstat: Unknown Job Id 5"), true},
		{"sge", "job_number: 5", nil, false},
		{"sge", "", fmt.Errorf("exit status 1: Following jobs do not exist: 5"), true},
		{"lsf", "RUN", nil, false},
		{"lsf", "DONE\nEXIT", nil, true},
		{"lsf", "", fmt.Errorf("Job <5> is not found"), true},
	}
	for _, tt := range tests {
		if got := jobGone(tt.system, []byte(tt.out), tt.err); got != tt.want {
			t.Errorf("jobGone(%s, %q, %v) = %v, want %v", tt.system, tt.out, tt.err, got, tt.want)
		}
	}
}

// TestLSFCommandLines runs the LSF launcher against a fake runner: LSF
// has no implementation that can be installed here.
func TestLSFCommandLines(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	state := "RUN"
	fr := &fakeRunner{answers: map[string]func([]string) (string, error){
		"bsub": func([]string) (string, error) { return "Job <4321> is submitted to default queue <normal>.\n", nil },
		"bjobs": func([]string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			return state + "\n", nil
		},
		"bkill": func(argv []string) (string, error) {
			if argv[1] != "-s" {
				mu.Lock()
				state = "EXIT"
				mu.Unlock()
			}
			return "Job <4321> is being terminated\n", nil
		},
	}}
	sys, _ := SystemByName("lsf")
	b, err := NewBatch(BatchSpec{System: sys, Role: "engines", Data: testData(), Script: filepath.Join(dir, "job.sh"),
		Runner: fr, PollInterval: 10 * time.Millisecond, Grace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if b.JobID() != "4321" || b.State() != StateRunning {
		t.Fatalf("job %q state %v", b.JobID(), b.State())
	}
	if err := b.Signal(10); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	select {
	case <-b.Wait():
	default:
		t.Fatal("not stopped")
	}
	calls := fr.Calls()
	if diff := cmp.Diff([]string{"bsub"}, calls[0]); diff != "" {
		t.Errorf("submit (-want +got):\n%s", diff)
	}
	script, _ := os.ReadFile(filepath.Join(dir, "job.sh"))
	if fr.stdins[0] != string(script) || !strings.Contains(fr.stdins[0], "#BSUB -J pxsh-engines[1-4]") {
		t.Errorf("bsub stdin = %q", fr.stdins[0])
	}
	want := map[string]bool{"bkill -s SIGUSR1 4321": false, "bkill 4321": false, "bjobs -noheader -o stat 4321": false}
	for _, c := range calls {
		k := strings.Join(c, " ")
		if _, ok := want[k]; ok {
			want[k] = true
		}
	}
	// signal names: SIG prefix stripped
	want["bkill -s USR1 4321"] = false
	for _, c := range calls {
		if strings.Join(c, " ") == "bkill -s USR1 4321" {
			want["bkill -s USR1 4321"] = true
		}
	}
	delete(want, "bkill -s SIGUSR1 4321")
	for k, seen := range want {
		if !seen {
			t.Errorf("command %q not run; calls: %v", k, calls)
		}
	}
	rec := b.Record()
	if diff := cmp.Diff(Record{Kind: "lsf", Role: "engines", JobID: "4321", Cancel: []string{"bkill", "4321"},
		Query: []string{"bjobs", "-noheader", "-o", "stat", "4321"}, N: 4}, rec); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
}

// TestBatchNoticesEnd checks that a job leaving the queue ends the
// launcher, unrequested.
func TestBatchNoticesEnd(t *testing.T) {
	var mu sync.Mutex
	out := "RUNNING"
	fr := &fakeRunner{answers: map[string]func([]string) (string, error){
		"sbatch": func([]string) (string, error) { return "12\n", nil },
		"squeue": func([]string) (string, error) { mu.Lock(); defer mu.Unlock(); return out, nil },
	}}
	sys, _ := SystemByName("slurm")
	b, err := NewBatch(BatchSpec{System: sys, Role: "engines", Data: testData(), Script: filepath.Join(t.TempDir(), "j.sh"),
		Runner: fr, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sbatch", "--parsable", b.spec.Script}, fr.Calls()[0]); diff != "" {
		t.Errorf("submit (-want +got):\n%s", diff)
	}
	mu.Lock()
	out = "FAILED"
	mu.Unlock()
	select {
	case <-b.Wait():
	case <-time.After(5 * time.Second):
		t.Fatal("end of job not noticed")
	}
	if b.Exit().Requested {
		t.Error("exit marked requested")
	}
}
