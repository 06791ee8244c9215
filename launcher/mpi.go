package launcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MPI flavors.
const (
	OpenMPI = "openmpi"
	MPICH   = "mpich"
)

// DetectMPI runs `mpiexec --version` and reports OpenMPI or MPICH.
func DetectMPI(ctx context.Context, r Runner, mpiexec string) (string, error) {
	if r == nil {
		r = ExecRunner{}
	}
	out, err := r.Run(ctx, nil, mpiexec, "--version")
	if err != nil {
		return "", fmt.Errorf("detect mpi: %w", err)
	}
	return mpiFlavor(string(out))
}

func mpiFlavor(version string) (string, error) {
	v := strings.ToLower(version)
	switch {
	case strings.Contains(v, "open mpi") || strings.Contains(v, "open-mpi") || strings.Contains(v, "openrte"):
		return OpenMPI, nil
	case strings.Contains(v, "hydra") || strings.Contains(v, "mpich") || strings.Contains(v, "intel(r) mpi"):
		return MPICH, nil
	}
	first, _, _ := strings.Cut(strings.TrimSpace(version), "\n")
	return "", fmt.Errorf("detect mpi: unknown mpiexec (%q)", first)
}

// MPISpec describes one mpiexec run of N engines.
type MPISpec struct {
	// Command is the mpiexec program; Flavor OpenMPI or MPICH.
	Command, Flavor string
	// N engines, ids FirstID..FirstID+N-1 (rank + FirstID).
	N, FirstID int
	// Binary is pxsh; ConnFile the engine connection file.
	Binary, ConnFile string
	// EngineArgs are extra engine arguments.
	EngineArgs []string
	// Hosts is an mpiexec host list ("h1:2,h2:2"), "" for this host.
	Hosts string
	// LocalOnly adds the loopback-interface settings.
	LocalOnly bool
	// Root adds Open MPI's --allow-run-as-root --oversubscribe.
	Root bool
	// Args are extra mpiexec arguments.
	Args []string
	// PerRank is how many engines each rank runs (--count); N is a
	// multiple of it. 0 or 1 means one.
	PerRank int
}

// rankProgram returns the program and arguments one rank runs: `pxsh
// engine --mpi` when FirstID is 0, else a sh wrapper adding FirstID to
// the rank. With perRank above 1 each rank runs that many engines
// (--count), ids FirstID + rank×perRank onwards.
func rankProgram(binary, connFile string, firstID, perRank int, extra []string) []string {
	if perRank > 1 {
		extra = append([]string{"--count", strconv.Itoa(perRank)}, extra...)
	}
	if firstID == 0 {
		return append([]string{binary, "engine", "--file", connFile, "--mpi"}, extra...)
	}
	script := `r=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-${SLURM_PROCID:-0}}}; exec "$0" engine --file "$1" --id $(( $2 + r * ` + strconv.Itoa(max(perRank, 1)) + ` ))`
	for i := range extra {
		script += ` "$` + strconv.Itoa(i+3) + `"`
	}
	return append([]string{"/bin/sh", "-c", script, binary, connFile, strconv.Itoa(firstID)}, extra...)
}

// Argv returns the mpiexec command line.
func (s MPISpec) Argv() []string {
	argv := []string{s.Command}
	switch s.Flavor {
	case OpenMPI:
		if s.Root {
			argv = append(argv, "--allow-run-as-root")
		}
		if s.Root || s.LocalOnly {
			argv = append(argv, "--oversubscribe")
		}
		if s.LocalOnly {
			argv = append(argv, "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo")
		}
		if s.Hosts != "" {
			argv = append(argv, "--host", s.Hosts)
		}
	case MPICH:
		if s.LocalOnly {
			argv = append(argv, "-launcher", "fork", "-iface", "lo")
		}
		if s.Hosts != "" {
			argv = append(argv, "-hosts", s.Hosts)
		}
	}
	argv = append(argv, s.Args...)
	ranks := s.N
	if s.PerRank > 1 {
		ranks = s.N / s.PerRank
	}
	argv = append(argv, "-n", strconv.Itoa(ranks))
	return append(argv, rankProgram(s.Binary, s.ConnFile, s.FirstID, s.PerRank, s.EngineArgs)...)
}

// MPI is a Launcher running N engines under one mpiexec. Stop sends
// SIGTERM to mpiexec (which ends every rank; SIGKILL would orphan them)
// and SIGKILL only after the grace period. It is safe for concurrent use.
type MPI struct {
	*Process
	spec MPISpec
}

// NewMPI returns the MPI launcher for spec; proc supplies the process
// settings (Output, DieWithParent, Grace...); its Path and Args are
// replaced by the mpiexec command line.
func NewMPI(spec MPISpec, proc ProcessSpec) *MPI {
	argv := spec.Argv()
	proc.Path, proc.Args = argv[0], argv[1:]
	proc.Kind = "mpi"
	proc.ID = spec.FirstID
	return &MPI{Process: NewProcess(proc), spec: spec}
}

// Record describes the mpiexec process and the engine ids it runs.
func (m *MPI) Record() Record {
	r := m.Process.Record()
	r.FirstID, r.N = m.spec.FirstID, m.spec.N
	for i := range r.Procs {
		r.Procs[i].ID = -1
	}
	return r
}

// Ranks returns the engines running under mpiexec on this host, by id
// (rank + FirstID) to pid, found by walking /proc for descendants of
// mpiexec that run the pxsh binary.
func (m *MPI) Ranks() map[int]int {
	pid := m.PID()
	out := map[int]int{}
	if pid == 0 {
		return out
	}
	bin, _ := filepath.EvalSymlinks(m.spec.Binary)
	for _, d := range descendants(pid) {
		exe, err := os.Readlink("/proc/" + strconv.Itoa(d) + "/exe")
		if err != nil || (exe != bin && exe != m.spec.Binary) {
			continue
		}
		if st := procState(d); st == "" || st == "Z" {
			continue
		}
		env, err := os.ReadFile("/proc/" + strconv.Itoa(d) + "/environ")
		if err != nil {
			continue
		}
		rank := -1
		for _, kv := range strings.Split(string(env), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			if k == "OMPI_COMM_WORLD_RANK" || k == "PMI_RANK" || k == "PMIX_RANK" {
				if n, err := strconv.Atoi(v); err == nil {
					rank = n
					break
				}
			}
		}
		if rank >= 0 {
			out[m.spec.FirstID+rank] = d
		}
	}
	return out
}

// descendants lists every descendant of pid (from /proc/*/stat ppids).
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 && len(out) < 100000 {
		c := queue[0]
		queue = queue[1:]
		for _, k := range children[c] {
			out = append(out, k)
			queue = append(queue, k)
		}
	}
	return out
}
