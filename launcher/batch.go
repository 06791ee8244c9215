package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

// System describes a batch system: its commands and default job scripts.
// Commands are argv prefixes; the script path (or the job id) is appended.
type System struct {
	// Name is "slurm", "pbs", "sge" or "lsf".
	Name string
	// Submit submits a job script; the script path is appended unless
	// ScriptOnStdin (LSF's `bsub < script`, which honours #BSUB lines).
	Submit        []string
	ScriptOnStdin bool
	// OutputFlags are each passed with the output file to Submit (PBS:
	// Slurm's qsub wrapper ignores #PBS -o/-j in the script and would
	// write <script>.o<id>/.e<id> into the current directory).
	OutputFlags []string
	// Cancel removes a job (the id is appended).
	Cancel []string
	// Signal sends a signal (the signal name without SIG, then the id,
	// are appended); nil when the system cannot.
	Signal []string
	// Query shows a job (the id is appended); see jobGone.
	Query []string
	// JobIDRegexp finds the job id in Submit's output: its first group,
	// or the whole match.
	JobIDRegexp string
	// EngineTemplate and ControllerTemplate are the default job scripts.
	EngineTemplate, ControllerTemplate string
}

// TemplateData are the fields a job script template can use.
type TemplateData struct {
	// N is the number of engines (1 for the controller).
	N int
	// FirstID is the id of the first engine; engines get FirstID..FirstID+N-1.
	FirstID int
	// Queue, Account, Walltime come from BatchConfig.
	Queue, Account, Walltime string
	// ClusterID is the controller's cluster id ("" for the controller's
	// own job).
	ClusterID string
	// ProfileDir is the profile directory; Output the job's output file.
	ProfileDir, Output string
	// Program is the shell-quoted pxsh binary and Args its shell-quoted
	// arguments: the controller's, or an engine's without any id (job
	// arrays append `--id $((...))` themselves).
	Program, Args string
	// Command is the whole shell-quoted command line of the controller,
	// or of one engine that takes its id from its srun/MPI rank (plus
	// FirstID): what `srun` or `mpiexec -n N` runs.
	Command string
	// MPIExec is the mpiexec command line for templates that need one.
	MPIExec string
}

const slurmEngines = `#!/bin/sh
#SBATCH --job-name=pxsh-engines-{{.ClusterID}}
#SBATCH --ntasks={{.N}}
#SBATCH --output={{.Output}}
#SBATCH --export=ALL
{{- if .Queue}}
#SBATCH --partition={{.Queue}}{{end}}
{{- if .Account}}
#SBATCH --account={{.Account}}{{end}}
{{- if .Walltime}}
#SBATCH --time={{.Walltime}}{{end}}
# one engine per task; each takes its id from SLURM_PROCID
exec srun {{.Command}}
`

const slurmController = `#!/bin/sh
#SBATCH --job-name=pxsh-controller
#SBATCH --ntasks=1
#SBATCH --output={{.Output}}
#SBATCH --export=ALL
{{- if .Queue}}
#SBATCH --partition={{.Queue}}{{end}}
{{- if .Account}}
#SBATCH --account={{.Account}}{{end}}
{{- if .Walltime}}
#SBATCH --time={{.Walltime}}{{end}}
exec {{.Command}}
`

const pbsEngines = `#!/bin/sh
#PBS -N pxsh-engines
#PBS -V
#PBS -j oe
#PBS -o {{.Output}}
#PBS -l nodes=1:ppn={{.N}}
{{- if .Queue}}
#PBS -q {{.Queue}}{{end}}
{{- if .Account}}
#PBS -A {{.Account}}{{end}}
{{- if .Walltime}}
#PBS -l walltime={{.Walltime}}{{end}}
# one engine per MPI rank; each takes its rank as id
exec {{.MPIExec}} -n {{.N}} {{.Command}}
`

const pbsController = `#!/bin/sh
#PBS -N pxsh-controller
#PBS -V
#PBS -j oe
#PBS -o {{.Output}}
#PBS -l nodes=1:ppn=1
{{- if .Queue}}
#PBS -q {{.Queue}}{{end}}
{{- if .Account}}
#PBS -A {{.Account}}{{end}}
{{- if .Walltime}}
#PBS -l walltime={{.Walltime}}{{end}}
exec {{.Command}}
`

const sgeEngines = `#!/bin/sh
#$ -N pxsh-engines
#$ -S /bin/sh
#$ -V
#$ -j y
#$ -o {{.Output}}
#$ -t 1-{{.N}}
{{- if .Queue}}
#$ -q {{.Queue}}{{end}}
{{- if .Account}}
#$ -A {{.Account}}{{end}}
{{- if .Walltime}}
#$ -l h_rt={{.Walltime}}{{end}}
# one engine per array task; task k (1-based) is engine FirstID+k-1
exec {{.Program}} {{.Args}} --id $(( {{.FirstID}} + SGE_TASK_ID - 1 ))
`

const sgeController = `#!/bin/sh
#$ -N pxsh-controller
#$ -S /bin/sh
#$ -V
#$ -j y
#$ -o {{.Output}}
{{- if .Queue}}
#$ -q {{.Queue}}{{end}}
{{- if .Account}}
#$ -A {{.Account}}{{end}}
{{- if .Walltime}}
#$ -l h_rt={{.Walltime}}{{end}}
exec {{.Command}}
`

const lsfEngines = `#!/bin/sh
#BSUB -J pxsh-engines[1-{{.N}}]
#BSUB -o {{.Output}}
{{- if .Queue}}
#BSUB -q {{.Queue}}{{end}}
{{- if .Account}}
#BSUB -P {{.Account}}{{end}}
{{- if .Walltime}}
#BSUB -W {{.Walltime}}{{end}}
# one engine per array element; element k (1-based) is engine FirstID+k-1
exec {{.Program}} {{.Args}} --id $(( {{.FirstID}} + LSB_JOBINDEX - 1 ))
`

const lsfController = `#!/bin/sh
#BSUB -J pxsh-controller
#BSUB -o {{.Output}}
{{- if .Queue}}
#BSUB -q {{.Queue}}{{end}}
{{- if .Account}}
#BSUB -P {{.Account}}{{end}}
{{- if .Walltime}}
#BSUB -W {{.Walltime}}{{end}}
exec {{.Command}}
`

// SystemByName returns the built-in description of a batch system:
// "slurm", "pbs", "sge" or "lsf".
func SystemByName(name string) (System, error) {
	switch name {
	case "slurm":
		return System{Name: name, Submit: []string{"sbatch", "--parsable"}, Cancel: []string{"scancel"},
			Signal: []string{"scancel", "-s"}, Query: []string{"squeue", "-h", "-t", "all", "-o", "%T", "-j"},
			JobIDRegexp: `^\s*(\d+)`, EngineTemplate: slurmEngines, ControllerTemplate: slurmController}, nil
	case "pbs":
		return System{Name: name, Submit: []string{"qsub"}, OutputFlags: []string{"-o", "-e"}, Cancel: []string{"qdel"},
			Signal: []string{"qsig", "-s"}, Query: []string{"qstat"},
			JobIDRegexp: `^\s*(\S+)`, EngineTemplate: pbsEngines, ControllerTemplate: pbsController}, nil
	case "sge":
		return System{Name: name, Submit: []string{"qsub", "-terse"}, Cancel: []string{"qdel"},
			Query: []string{"qstat", "-j"}, JobIDRegexp: `^\s*(\d+)`,
			EngineTemplate: sgeEngines, ControllerTemplate: sgeController}, nil
	case "lsf":
		return System{Name: name, Submit: []string{"bsub"}, ScriptOnStdin: true, Cancel: []string{"bkill"},
			Signal: []string{"bkill", "-s"}, Query: []string{"bjobs", "-noheader", "-o", "stat"},
			JobIDRegexp: `Job <(\d+)>`, EngineTemplate: lsfEngines, ControllerTemplate: lsfController}, nil
	}
	return System{}, fmt.Errorf("batch system %q: unknown (want slurm, pbs, sge or lsf)", name)
}

// ParseJobID extracts a job id from submit output with re (its first
// group, or the whole match).
func ParseJobID(re *regexp.Regexp, out string) (string, error) {
	m := re.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("parse job id: %q does not match %s", strings.TrimSpace(out), re)
	}
	if len(m) > 1 && m[1] != "" {
		return m[1], nil
	}
	return m[0], nil
}

// jobGone interprets a Query result: true once the job has left the
// system (or finished), false while it is queued or running or when the
// answer is unclear.
func jobGone(system string, out []byte, err error) bool {
	s := strings.TrimSpace(string(out))
	if err != nil {
		msg := strings.ToLower(err.Error() + " " + s)
		for _, w := range []string{"invalid job id", "unknown job", "do not exist", "does not exist", "not found", "is finished"} {
			if strings.Contains(msg, w) {
				return true
			}
		}
		// sge: `qstat -j` exits 1 for a missing job
		return system == "sge"
	}
	switch system {
	case "slurm":
		if s == "" {
			return true
		}
		for _, st := range strings.Fields(s) {
			switch st {
			case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "STOPPED", "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT", "RESV_DEL_HOLD", "RESV_DEL", "RESVDELHOLD":
				return false
			}
		}
		return true
	case "pbs":
		// Torque: "Job ID Name User Time S Queue"; the state is the next
		// to last field of the job's line.
		for _, line := range strings.Split(s, "\n") {
			f := strings.Fields(line)
			if len(f) >= 6 && (f[0] != "Job" && !strings.HasPrefix(f[0], "-")) {
				return f[len(f)-2] == "C" || f[len(f)-2] == "F"
			}
		}
		return s == ""
	case "lsf":
		for _, st := range strings.Fields(s) {
			if st != "DONE" && st != "EXIT" {
				return false
			}
		}
		return true
	}
	return false
}

// BatchSpec describes one batch job.
type BatchSpec struct {
	// System is the batch system; Role "controller" or "engines".
	System System
	Role   string
	// Template is the job script template ("" uses the system's default
	// for Role).
	Template string
	// Data fills the template.
	Data TemplateData
	// Script is where the rendered job script is written.
	Script string
	// Runner runs the commands; nil uses ExecRunner.
	Runner Runner
	// PollInterval (1 s if 0) and Grace (DefaultGrace if 0).
	PollInterval, Grace time.Duration
}

// Batch is a Launcher for one batch job. It is safe for concurrent use.
type Batch struct {
	spec BatchSpec
	tmpl *template.Template
	re   *regexp.Regexp

	mu       sync.Mutex
	state    State
	jobID    string
	stopping bool
	exit     Exit
	done     chan struct{}
	cancel   context.CancelFunc
}

// NewBatch checks spec (template syntax, job id regexp) and returns its
// launcher.
func NewBatch(spec BatchSpec) (*Batch, error) {
	if spec.Template == "" {
		spec.Template = spec.System.EngineTemplate
		if spec.Role == "controller" {
			spec.Template = spec.System.ControllerTemplate
		}
	}
	t, err := template.New(spec.System.Name).Option("missingkey=error").Parse(spec.Template)
	if err != nil {
		return nil, fmt.Errorf("batch %s: template: %w", spec.System.Name, err)
	}
	re, err := regexp.Compile(spec.System.JobIDRegexp)
	if err != nil {
		return nil, fmt.Errorf("batch %s: job id regexp: %w", spec.System.Name, err)
	}
	if spec.Runner == nil {
		spec.Runner = ExecRunner{}
	}
	if spec.PollInterval <= 0 {
		spec.PollInterval = time.Second
	}
	if spec.Grace <= 0 {
		spec.Grace = DefaultGrace
	}
	return &Batch{spec: spec, tmpl: t, re: re, done: make(chan struct{})}, nil
}

// Script renders the job script.
func (b *Batch) Script() (string, error) {
	var buf bytes.Buffer
	if err := b.tmpl.Execute(&buf, b.spec.Data); err != nil {
		return "", fmt.Errorf("batch %s: render job script: %w", b.spec.System.Name, err)
	}
	return buf.String(), nil
}

// SubmitCommand returns the submit command line.
func (b *Batch) SubmitCommand() []string {
	argv := append([]string(nil), b.spec.System.Submit...)
	if b.spec.Data.Output != "" {
		for _, f := range b.spec.System.OutputFlags {
			argv = append(argv, f, b.spec.Data.Output)
		}
	}
	if !b.spec.System.ScriptOnStdin {
		argv = append(argv, b.spec.Script)
	}
	return argv
}

// JobID returns the job id, "" before submission.
func (b *Batch) JobID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.jobID
}

// Start writes the job script and submits it.
func (b *Batch) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != StateBefore {
		return ErrStarted
	}
	name := b.spec.System.Name
	script, err := b.Script()
	if err != nil {
		return err
	}
	if err := os.WriteFile(b.spec.Script, []byte(script), 0o700); err != nil {
		return fmt.Errorf("batch %s: write job script: %w", name, err)
	}
	var stdin *strings.Reader
	if b.spec.System.ScriptOnStdin {
		stdin = strings.NewReader(script)
	}
	argv := b.SubmitCommand()
	var out []byte
	if stdin != nil {
		out, err = b.spec.Runner.Run(ctx, stdin, argv...)
	} else {
		out, err = b.spec.Runner.Run(ctx, nil, argv...)
	}
	if err != nil {
		return fmt.Errorf("batch %s: submit: %w", name, err)
	}
	id, err := ParseJobID(b.re, string(out))
	if err != nil {
		return fmt.Errorf("batch %s: submit: %w", name, err)
	}
	b.jobID = id
	b.state = StateRunning
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	go b.poll(pctx)
	return nil
}

func (b *Batch) withID(prefix []string) []string {
	return append(append([]string(nil), prefix...), b.jobID)
}

func (b *Batch) poll(ctx context.Context) {
	t := time.NewTicker(b.spec.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if b.gone(ctx) {
			b.finish(nil)
			return
		}
	}
}

func (b *Batch) gone(ctx context.Context) bool {
	if len(b.spec.System.Query) == 0 {
		return false
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := b.spec.Runner.Run(qctx, nil, b.withID(b.spec.System.Query)...)
	if ctx.Err() != nil {
		return false
	}
	return jobGone(b.spec.System.Name, out, err)
}

// Status returns the first line of the system's answer about the job
// (Query), "" if there is none.
func (b *Batch) Status(ctx context.Context) string {
	if len(b.spec.System.Query) == 0 || b.JobID() == "" {
		return ""
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := b.spec.Runner.Run(qctx, nil, b.withID(b.spec.System.Query)...)
	if err != nil {
		return ""
	}
	lines := strings.Fields(strings.Join(strings.Split(strings.TrimSpace(string(out)), "\n")[:1], " "))
	return strings.Join(lines, " ")
}

func (b *Batch) finish(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == StateStopped {
		return
	}
	b.state = StateStopped
	b.exit = Exit{Code: -1, Requested: b.stopping, Err: err, Time: time.Now()}
	if b.cancel != nil {
		b.cancel()
	}
	close(b.done)
}

// Stop cancels the job and waits until the system no longer lists it
// (up to the grace period or ctx), then cancels once more.
func (b *Batch) Stop(ctx context.Context) error {
	b.mu.Lock()
	switch b.state {
	case StateBefore:
		b.stopping = true
		b.mu.Unlock()
		b.finish(nil)
		return nil
	case StateStopped:
		b.mu.Unlock()
		return nil
	}
	b.stopping = true
	b.mu.Unlock()
	name := b.spec.System.Name
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, cerr := b.spec.Runner.Run(cctx, nil, b.withID(b.spec.System.Cancel)...)
	deadline := time.Now().Add(b.spec.Grace)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if b.gone(cctx) {
			b.finish(nil)
			return nil
		}
		select {
		case <-b.done:
			return nil
		case <-ctx.Done():
		case <-time.After(b.spec.PollInterval / 4):
		}
	}
	// forceful: cancel again, then give up waiting
	_, cerr2 := b.spec.Runner.Run(cctx, nil, b.withID(b.spec.System.Cancel)...)
	if b.gone(cctx) {
		b.finish(nil)
		return nil
	}
	err := errors.Join(cerr, cerr2)
	if err == nil {
		err = errors.New("job still listed")
	}
	b.finish(err)
	return fmt.Errorf("batch %s: cancel job %s: %w", name, b.JobID(), err)
}

// Signal sends sig to the job, when the system can.
func (b *Batch) Signal(sig syscall.Signal) error {
	if b.State() != StateRunning {
		return ErrNotRunning
	}
	if len(b.spec.System.Signal) == 0 {
		return fmt.Errorf("batch %s: signal: not supported", b.spec.System.Name)
	}
	name := strings.TrimPrefix(signalName(sig), "SIG")
	argv := append(append([]string(nil), b.spec.System.Signal...), name, b.JobID())
	if _, err := b.spec.Runner.Run(context.Background(), nil, argv...); err != nil {
		return fmt.Errorf("batch %s: signal: %w", b.spec.System.Name, err)
	}
	return nil
}

// Wait returns a channel closed once the job has left the system.
func (b *Batch) Wait() <-chan struct{} { return b.done }

// Exit reports how the job ended (Code is always -1: batch systems do not
// report it here).
func (b *Batch) Exit() Exit {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exit
}

// State reports the life-cycle state.
func (b *Batch) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Record describes the job.
func (b *Batch) Record() Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := Record{Kind: b.spec.System.Name, Role: b.spec.Role, FirstID: b.spec.Data.FirstID, N: b.spec.Data.N}
	if b.spec.Role == "controller" {
		r.N = 0
	}
	if b.jobID != "" {
		r.JobID = b.jobID
		r.Cancel = b.withID(b.spec.System.Cancel)
		r.Query = b.withID(b.spec.System.Query)
	}
	return r
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT", syscall.SIGKILL: "SIGKILL",
	syscall.SIGTERM: "SIGTERM", syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2", syscall.SIGSTOP: "SIGSTOP",
	syscall.SIGCONT: "SIGCONT",
}

func signalName(sig syscall.Signal) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return fmt.Sprintf("%d", int(sig))
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=/.,:+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellJoin quotes and joins argv.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
