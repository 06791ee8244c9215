package launcher

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Config configures a Cluster. The zero value of each field is documented;
// ProfileDir is required unless Private is set.
type Config struct {
	// ProfileDir is the profile directory holding security/, log/ and
	// cluster.json.
	ProfileDir string
	// Binary is the pxsh program to run ("pxsh controller", "pxsh
	// engine"); "" means os.Executable().
	Binary string
	// N is the number of engines Start launches; 0 starts none.
	N int
	// EnginesPerProcess runs that many engines in each engine process
	// (`pxsh engine --count`) for the local, MPI and batch backends; 0 or
	// 1 means one. MPI and batch need N to be a multiple of it.
	EnginesPerProcess int
	// Engines is the engine backend: "local" (default), "mpi", "slurm",
	// "pbs", "sge", "lsf" or "ssh".
	Engines string
	// Controller is the controller backend: "local" (default), "slurm",
	// "pbs", "sge", "lsf" or "ssh".
	Controller string
	// IP is the address the controller listens on (its --ip); "" lets the
	// controller choose, except that remote engines get "0.0.0.0".
	IP string
	// Location is the host name or address written into the connection
	// files (the controller's --location); "" lets the controller choose,
	// except that remote engines get this host's name.
	Location string
	// LocalOnly declares that every engine runs on this host: loopback
	// connection files are then accepted for every backend, and MPI is
	// told to use the loopback interface.
	LocalOnly bool
	// NoControllerRestart leaves a local controller that ended
	// unexpectedly down (by default it is restarted with --restore).
	NoControllerRestart bool
	// RestartEngines restarts local and MPI engines that exit unexpectedly,
	// with their old ids.
	RestartEngines bool
	// Private makes a throwaway cluster: every child dies with this
	// process (Pdeathsig) and Stop removes everything. When ProfileDir is
	// "" a temporary profile is created and removed at Stop.
	Private bool
	// DieWithLauncher sets Pdeathsig on every child process, so nothing
	// outlives the supervising process (always true when Private).
	DieWithLauncher bool
	// Detach starts local processes in their own session so they outlive
	// this process (used by `pxsh cluster engines`).
	Detach bool
	// Allow is the engines' host-capability grant in --allow syntax
	// ("sh,env,fs=/scratch:/data"); "" keeps them sandboxed. It is
	// passed as the engines' --allow and recorded in cluster.json.
	Allow string
	// ControllerArgs and EngineArgs are appended to the controller and
	// engine command lines.
	ControllerArgs []string
	EngineArgs     []string
	// Env is the environment of launched processes; nil inherits ours.
	Env []string
	// MPI, Batch and SSH configure those backends.
	MPI   MPIConfig
	Batch BatchConfig
	SSH   SSHConfig
	// Runner runs submit/cancel/query/ssh helper commands; nil runs them
	// with os/exec.
	Runner Runner
	// Logger receives progress and failure reports; nil is silent.
	Logger *slog.Logger
	// Grace is how long a stop waits between the polite and the forceful
	// step (DefaultGrace if zero).
	Grace time.Duration
	// StartTimeout bounds the wait for the controller's connection file
	// (60 s if zero).
	StartTimeout time.Duration
	// PollInterval is how often batch jobs and MPI ranks are polled
	// (1 s if zero).
	PollInterval time.Duration
}

// MPIConfig configures the MPI engine backend.
type MPIConfig struct {
	// Command is the mpiexec program ("mpiexec" if empty). Implementation
	// (Open MPI or MPICH) is detected with `Command --version`.
	Command string
	// Flavor forces "openmpi" or "mpich" instead of detecting it.
	Flavor string
	// Hosts is a host list for mpiexec ("h1:2,h2:2"); engines on other
	// hosts make the cluster remote.
	Hosts string
	// Args are extra mpiexec arguments, placed before -n.
	Args []string
}

// BatchConfig configures the batch backends (Slurm, PBS, SGE, LSF).
type BatchConfig struct {
	// Queue is the queue (Slurm: partition); Account the account or
	// project; Walltime the time limit in the system's syntax.
	Queue, Account, Walltime string
	// EngineTemplate and ControllerTemplate replace the default job
	// scripts (text/template, fields of TemplateData).
	EngineTemplate, ControllerTemplate string
	// Submit, Cancel and Query replace the system's commands; see System.
	Submit, Cancel, Query []string
	// JobIDRegexp replaces the system's job id regexp (first group, or
	// the whole match).
	JobIDRegexp string
	// MPIExec is the mpiexec command line used inside templates that
	// need one (PBS): "mpiexec" if empty.
	MPIExec string
}

// SSHConfig configures the ssh backends.
type SSHConfig struct {
	// Hosts are the engine hosts ("host[:count]", "user@host:2"); counts
	// missing from every host spread N evenly.
	Hosts []HostSpec
	// ControllerHost is the host of an ssh controller.
	ControllerHost string
	// SSH and SCP are the programs ("ssh", "scp" if empty).
	SSH, SCP string
	// ConfigFile is passed as -F to ssh and scp.
	ConfigFile string
	// Port is passed as -p (ssh) and -P (scp) when not 0.
	Port int
	// Options are extra options for both ssh and scp (e.g. "-o",
	// "BatchMode=yes").
	Options []string
	// ShipBinary copies Binary to each host before starting.
	ShipBinary bool
	// RemoteBinary is the pxsh program on remote hosts: "pxsh" (on PATH)
	// if empty, or the shipped copy with ShipBinary.
	RemoteBinary string
	// RemoteDir is where files are copied on remote hosts, relative to
	// the remote home unless absolute (".pxsh/remote-<cluster id>" if
	// empty).
	RemoteDir string
}

// Settings a profile's config file may set, with their comments and
// defaults, in the order `pxsh profile create` writes them.
var configSettings = []struct{ name, def, doc string }{
	{"engines", `"local"`, "engine backend: local, mpi, slurm, pbs, sge, lsf or ssh"},
	{"controller", `"local"`, "controller backend: local, slurm, pbs, sge, lsf or ssh"},
	{"n", "4", "number of engines `pxsh cluster start` launches"},
	{"engines_per_process", "1", "engines run by each engine process (pxsh engine --count); local, MPI, batch"},
	{"scheme", `"leastload"`, "load-balancing scheme of the task scheduler"},
	{"hwm", "1", "tasks an engine may hold at once (0: unlimited)"},
	{"ip", `""`, "address the controller listens on (\"0.0.0.0\" for all); \"\" = default"},
	{"location", `""`, "host name or address engines and clients dial; \"\" = default"},
	{"local_only", "False", "every engine runs on this host (loopback addresses are fine)"},
	{"restart_engines", "False", "restart local/MPI engines that die, with their old ids"},
	{"allow", "[]", "host capabilities of the engines, e.g. [\"sh\", \"env\", \"fs=/scratch:/data\"]; [] = sandboxed"},
	{"controller_args", "[]", "extra arguments for `pxsh controller`"},
	{"engine_args", "[]", "extra arguments for `pxsh engine`"},
	{"mpiexec", `"mpiexec"`, "MPI: the mpiexec program (Open MPI or MPICH, detected)"},
	{"mpi_args", "[]", "MPI: extra mpiexec arguments"},
	{"mpi_hosts", `""`, "MPI: host list, e.g. \"h1:2,h2:2\""},
	{"queue", `""`, "batch: queue (Slurm partition)"},
	{"account", `""`, "batch: account / project"},
	{"walltime", `""`, "batch: time limit, e.g. \"01:00:00\""},
	{"engine_template", `""`, "batch: job script template for engines (text/template); \"\" = built-in"},
	{"controller_template", `""`, "batch: job script template for the controller; \"\" = built-in"},
	{"submit_command", "[]", "batch: submit command, e.g. [\"sbatch\"]; [] = the system's"},
	{"cancel_command", "[]", "batch: cancel command, e.g. [\"scancel\"]; [] = the system's"},
	{"query_command", "[]", "batch: job status command, e.g. [\"squeue\", \"-h\", \"-j\"]; [] = the system's"},
	{"job_id_regexp", `""`, "batch: regexp extracting the job id from the submit output"},
	{"batch_mpiexec", `"mpiexec"`, "batch: mpiexec used inside job scripts (PBS)"},
	{"hosts", "[]", "ssh: engine hosts, e.g. [\"node1:4\", \"user@node2:2\"]"},
	{"controller_host", `""`, "ssh: host of an ssh controller"},
	{"ssh", `"ssh"`, "ssh: the ssh program"},
	{"scp", `"scp"`, "ssh: the scp program"},
	{"ssh_config", `""`, "ssh: ssh config file (-F)"},
	{"ssh_port", "0", "ssh: port (-p); 0 = default"},
	{"ssh_options", "[]", "ssh: extra ssh/scp options, e.g. [\"-o\", \"BatchMode=yes\"]"},
	{"ship_binary", "False", "ssh: copy the pxsh binary to each host"},
	{"remote_binary", `""`, "ssh: pxsh on remote hosts; \"\" = pxsh on PATH (or the shipped copy)"},
	{"remote_dir", `""`, "ssh: remote directory for copied files"},
}

// DefaultConfigFile returns the text `pxsh profile create` writes: every
// setting commented out with its default.
func DefaultConfigFile(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# pxsh profile %q: Starlark config read by `pxsh cluster start`.\n", name)
	b.WriteString("# Uncomment and change a line to override the default. Command-line flags\n")
	b.WriteString("# override this file. Names starting with _ are free for helpers.\n\n")
	for _, s := range configSettings {
		fmt.Fprintf(&b, "# %s\n# %s = %s\n\n", s.doc, s.name, s.def)
	}
	return b.String()
}

// FileSettings are the values a config file sets, by name; Scheme and HWM
// are for the controller (the launcher only passes them on).
type FileSettings struct {
	Scheme string
	HWM    int
	// Set lists the names the file assigned.
	Set []string
}

// LoadConfigFile executes the Starlark config file at path and applies
// its settings to cfg. A missing file is not an error. Unknown names (not
// starting with _) and values of the wrong type are errors naming the
// file.
func LoadConfigFile(path string, cfg *Config) (*FileSettings, error) {
	src, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &FileSettings{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return parseConfig(path, src, cfg)
}

func parseConfig(path string, src []byte, cfg *Config) (*FileSettings, error) {
	thread := &starlark.Thread{Name: "config", Print: func(*starlark.Thread, string) {}}
	thread.SetMaxExecutionSteps(1_000_000)
	globals, err := starlark.ExecFileOptions(&syntax.FileOptions{}, thread, path, src, nil)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	fs := &FileSettings{}
	known := map[string]bool{}
	for _, s := range configSettings {
		known[s.name] = true
	}
	names := make([]string, 0, len(globals))
	for k := range globals {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasPrefix(name, "_") {
			continue
		}
		if !known[name] {
			return nil, fmt.Errorf("load config %s: unknown setting %q", path, name)
		}
		if err := applySetting(cfg, fs, name, globals[name]); err != nil {
			return nil, fmt.Errorf("load config %s: %s: %w", path, name, err)
		}
		fs.Set = append(fs.Set, name)
	}
	return fs, nil
}

func applySetting(cfg *Config, fs *FileSettings, name string, v starlark.Value) error {
	str := func(dst *string) error {
		s, ok := starlark.AsString(v)
		if !ok {
			return fmt.Errorf("got %s, want string", v.Type())
		}
		*dst = s
		return nil
	}
	num := func(dst *int) error {
		i, err := starlark.AsInt32(v)
		if err != nil {
			return fmt.Errorf("got %s, want int", v.Type())
		}
		*dst = i
		return nil
	}
	boolean := func(dst *bool) error {
		b, ok := v.(starlark.Bool)
		if !ok {
			return fmt.Errorf("got %s, want bool", v.Type())
		}
		*dst = bool(b)
		return nil
	}
	list := func(dst *[]string) error {
		it, ok := v.(starlark.Iterable)
		if !ok {
			return fmt.Errorf("got %s, want list of strings", v.Type())
		}
		var out []string
		iter := it.Iterate()
		defer iter.Done()
		var x starlark.Value
		for iter.Next(&x) {
			s, ok := starlark.AsString(x)
			if !ok {
				return fmt.Errorf("got %s in list, want string", x.Type())
			}
			out = append(out, s)
		}
		*dst = out
		return nil
	}
	switch name {
	case "engines":
		return str(&cfg.Engines)
	case "controller":
		return str(&cfg.Controller)
	case "n":
		return num(&cfg.N)
	case "engines_per_process":
		return num(&cfg.EnginesPerProcess)
	case "scheme":
		return str(&fs.Scheme)
	case "hwm":
		return num(&fs.HWM)
	case "ip":
		return str(&cfg.IP)
	case "location":
		return str(&cfg.Location)
	case "local_only":
		return boolean(&cfg.LocalOnly)
	case "restart_engines":
		return boolean(&cfg.RestartEngines)
	case "allow":
		var caps []string
		if err := list(&caps); err != nil {
			return err
		}
		cfg.Allow = strings.Join(caps, ",")
		return nil
	case "controller_args":
		return list(&cfg.ControllerArgs)
	case "engine_args":
		return list(&cfg.EngineArgs)
	case "mpiexec":
		return str(&cfg.MPI.Command)
	case "mpi_args":
		return list(&cfg.MPI.Args)
	case "mpi_hosts":
		return str(&cfg.MPI.Hosts)
	case "queue":
		return str(&cfg.Batch.Queue)
	case "account":
		return str(&cfg.Batch.Account)
	case "walltime":
		return str(&cfg.Batch.Walltime)
	case "engine_template":
		return str(&cfg.Batch.EngineTemplate)
	case "controller_template":
		return str(&cfg.Batch.ControllerTemplate)
	case "submit_command":
		return list(&cfg.Batch.Submit)
	case "cancel_command":
		return list(&cfg.Batch.Cancel)
	case "query_command":
		return list(&cfg.Batch.Query)
	case "job_id_regexp":
		return str(&cfg.Batch.JobIDRegexp)
	case "batch_mpiexec":
		return str(&cfg.Batch.MPIExec)
	case "hosts":
		var hs []string
		if err := list(&hs); err != nil {
			return err
		}
		specs, err := ParseHosts(strings.Join(hs, ","))
		if err != nil {
			return err
		}
		cfg.SSH.Hosts = specs
		return nil
	case "controller_host":
		return str(&cfg.SSH.ControllerHost)
	case "ssh":
		return str(&cfg.SSH.SSH)
	case "scp":
		return str(&cfg.SSH.SCP)
	case "ssh_config":
		return str(&cfg.SSH.ConfigFile)
	case "ssh_port":
		return num(&cfg.SSH.Port)
	case "ssh_options":
		return list(&cfg.SSH.Options)
	case "ship_binary":
		return boolean(&cfg.SSH.ShipBinary)
	case "remote_binary":
		return str(&cfg.SSH.RemoteBinary)
	case "remote_dir":
		return str(&cfg.SSH.RemoteDir)
	}
	return fmt.Errorf("unknown setting")
}
