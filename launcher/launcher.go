// Package launcher starts, supervises and stops the processes of a pxsh
// cluster: the controller and its engines, as local processes, under
// mpiexec, as batch jobs (Slurm, PBS, SGE, LSF) or over ssh.
//
// Every backend implements the small Launcher interface; they are composed
// (an ssh engine set is a set of local processes running ssh, an MPI
// launcher is one local process running mpiexec), not inherited. A Cluster
// combines one controller launcher and any number of engine launchers,
// records everything it started in the profile's cluster.json (so another
// process can stop it), restarts a local controller that dies (with
// --restore), reports engines that die and can restart them.
//
// The package is a library: it parses no flags, writes no usage, handles
// no signals and never exits. The `pxsh cluster` and `pxsh profile`
// subcommands built on it live in package program.
//
// launcher imports only the protocol and profile packages of this module
// (never the client, hub, engine or shell) and go.starlark.net for the
// profile's config file.
package launcher

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// State is the life-cycle state of a Launcher.
type State int

// Launcher states, in the only order they are entered.
const (
	StateBefore  State = iota // not started yet
	StateRunning              // started, not known to have ended
	StateStopped              // every process or job has ended
)

func (s State) String() string {
	switch s {
	case StateBefore:
		return "before"
	case StateRunning:
		return "running"
	case StateStopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Sentinel errors callers can branch on.
var (
	// ErrStarted is returned by Start on a launcher that was started before.
	ErrStarted = errors.New("launcher already started")
	// ErrNotRunning is returned by Signal on a launcher that is not running.
	ErrNotRunning = errors.New("launcher not running")
	// ErrLoopback means a connection file that remote engines would use
	// names only loopback addresses.
	ErrLoopback = errors.New("controller address is loopback")
	// ErrNoCluster means a profile has no recorded cluster.
	ErrNoCluster = errors.New("no cluster")
)

// Exit describes how a launcher ended.
type Exit struct {
	// Code is the exit status of the process (or of mpiexec, ssh...); -1
	// when killed by a signal or unknown (batch jobs).
	Code int
	// Signal is the signal that killed the process, 0 if none.
	Signal syscall.Signal
	// Requested is true when the launcher ended because Stop was called.
	Requested bool
	// Err is an error from starting, waiting or polling, if any.
	Err error
	// Time is when the end was noticed.
	Time time.Time
}

func (e Exit) String() string {
	switch {
	case e.Err != nil:
		return e.Err.Error()
	case e.Signal != 0:
		return "killed by signal " + e.Signal.String()
	case e.Code >= 0:
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return "ended"
}

// Launcher starts and stops one group of processes or one batch job.
// Implementations are safe for concurrent use.
type Launcher interface {
	// Start starts the processes or submits the job. It returns once they
	// were started (not once engines registered). A second Start fails
	// with ErrStarted.
	Start(ctx context.Context) error
	// Stop asks the processes or job to end (SIGTERM, scancel...), waits
	// for them until ctx is done or the launcher's grace period passed,
	// then forces them (SIGKILL). Stop is idempotent and never fails
	// because the processes are already gone.
	Stop(ctx context.Context) error
	// Signal sends sig to every process (or to the job).
	Signal(sig syscall.Signal) error
	// Wait returns a channel closed once the launcher is stopped.
	Wait() <-chan struct{}
	// Exit reports how the launcher ended; valid once Wait is closed.
	Exit() Exit
	// State reports the life-cycle state.
	State() State
	// Record describes what was started, so that another process can stop
	// it later (StopRecord).
	Record() Record
}

// Record is the persistent description of what a launcher started. It is
// written to the profile's cluster.json.
type Record struct {
	// Kind is the backend: "local", "mpi", "slurm", "pbs", "sge", "lsf" or
	// "ssh".
	Kind string `json:"kind"`
	// Role is "controller" or "engines".
	Role string `json:"role"`
	// Procs are the local processes (each the leader of its own process
	// group): engines, mpiexec, ssh clients.
	Procs []ProcRecord `json:"procs,omitempty"`
	// JobID is the batch job id.
	JobID string `json:"job_id,omitempty"`
	// Cancel is the command that removes the batch job (scancel ID).
	Cancel []string `json:"cancel,omitempty"`
	// Query is a command whose output is empty (or fails) once the job
	// is gone.
	Query []string `json:"query,omitempty"`
	// FirstID and N are the engine ids FirstID..FirstID+N-1 this launcher
	// asked for.
	FirstID int `json:"first_id"`
	N       int `json:"n"`
	// Owner identifies the Cluster that supervises this launcher (its
	// pid in the high 32 bits); others stop it only through StopRecord.
	Owner int64 `json:"owner,omitempty"`
}

// ProcRecord describes one local process.
type ProcRecord struct {
	PID int `json:"pid"`
	// Start is the process start time (clock ticks since boot, field 22 of
	// /proc/PID/stat); it guards against signalling a reused pid.
	Start uint64 `json:"start"`
	// ID is the engine id the process runs, -1 if none or several.
	ID int `json:"id"`
	// Host is set for ssh processes: the remote host.
	Host string `json:"host,omitempty"`
	// RemotePID is the pid of the remote command, when known.
	RemotePID int `json:"remote_pid,omitempty"`
	// SSH is the command prefix that runs a command on Host (ssh
	// [options] host), used to kill RemotePID.
	SSH []string `json:"ssh,omitempty"`
}
