package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pxsh/pxsh/profile"
)

// ClusterState is the content of a profile's cluster.json: everything a
// cluster started, so that any process can list or stop it.
type ClusterState struct {
	// ProfileDir is the profile directory.
	ProfileDir string `json:"profile_dir"`
	// ClusterID is the controller's cluster id, once known.
	ClusterID string `json:"cluster_id,omitempty"`
	// Supervisor is the `pxsh cluster start` process, if any.
	Supervisor *ProcRecord `json:"supervisor,omitempty"`
	// Engines and Controller are the backends' names.
	Engines    string `json:"engines,omitempty"`
	Controller string `json:"controller,omitempty"`
	// Allow is the engines' host-capability grant (--allow syntax).
	Allow string `json:"allow,omitempty"`
	// Started is when the cluster was started.
	Started time.Time `json:"started"`
	// NextID is the next free engine id.
	NextID int `json:"next_id"`
	// Records are the controller's and every engine launcher's.
	Records []Record `json:"records"`
}

// EngineCount returns the number of engines the records launched.
func (s *ClusterState) EngineCount() int {
	n := 0
	for _, r := range s.Records {
		if r.Role == "engines" {
			n += r.N
		}
	}
	return n
}

// Procs returns the local processes of every record.
func (s *ClusterState) Procs() []ProcRecord {
	var out []ProcRecord
	for _, r := range s.Records {
		out = append(out, r.Procs...)
	}
	return out
}

// StatePath returns the cluster state file of a profile directory.
func StatePath(dir string) string { return filepath.Join(dir, profile.ClusterStateFile) }

// ReadState reads a profile's cluster.json; a missing file gives an
// error wrapping ErrNoCluster.
func ReadState(dir string) (*ClusterState, error) {
	b, err := os.ReadFile(StatePath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read cluster state %s: %w", dir, ErrNoCluster)
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster state: %w", err)
	}
	var s ClusterState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read cluster state %s: %w", StatePath(dir), err)
	}
	return &s, nil
}

// writeState writes s atomically.
func writeState(dir string, s *ClusterState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".cluster-*")
	if err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write cluster state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	if err := os.Rename(tmp.Name(), StatePath(dir)); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	return nil
}

// updateState runs f on the state file under an exclusive lock (flock on
// cluster.json.lock). f gets nil when there is no state; it returns the
// state to write, or nil to remove the file.
func updateState(dir string, f func(*ClusterState) (*ClusterState, error)) error {
	return updateStateWait(dir, -1, f)
}

// updateStateWait is updateState waiting at most wait for the lock (for
// ever when wait < 0).
func updateStateWait(dir string, wait time.Duration, f func(*ClusterState) (*ClusterState, error)) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("update cluster state: %w", err)
	}
	lf, err := os.OpenFile(StatePath(dir)+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("update cluster state: %w", err)
	}
	defer lf.Close()
	if err := lockFile(lf, wait); err != nil {
		return fmt.Errorf("update cluster state: %w", err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	cur, err := ReadState(dir)
	if errors.Is(err, ErrNoCluster) {
		cur, err = nil, nil
	}
	if err != nil {
		return err
	}
	next, err := f(cur)
	if err != nil {
		return err
	}
	if next == nil {
		if err := os.Remove(StatePath(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("update cluster state: %w", err)
		}
		return nil
	}
	return writeState(dir, next)
}

// Running reports whether anything recorded in s still runs on this host
// (supervisor, local processes); batch jobs and remote processes are
// assumed to run while their records exist.
func (s *ClusterState) Running() bool {
	if s.Supervisor != nil && alive(s.Supervisor.PID, s.Supervisor.Start) {
		return true
	}
	for _, r := range s.Records {
		if r.JobID != "" {
			return true
		}
		for _, p := range r.Procs {
			if alive(p.PID, p.Start) {
				return true
			}
		}
	}
	return false
}

// StopRecord stops what a record describes, from any process: local
// processes get SIGTERM then SIGKILL after grace (only if their pid was
// not reused), remote pids of dead ssh clients are killed over ssh, and
// batch jobs are cancelled and polled until gone (up to grace).
func StopRecord(ctx context.Context, r Record, run Runner, grace time.Duration) error {
	if run == nil {
		run = ExecRunner{}
	}
	if grace <= 0 {
		grace = DefaultGrace
	}
	var errs []error
	for _, p := range r.Procs {
		wasAlive := alive(p.PID, p.Start)
		if err := killProc(ctx, p, grace); err != nil {
			errs = append(errs, err)
		}
		if !wasAlive && p.RemotePID > 0 && len(p.SSH) > 0 {
			argv := append(append([]string(nil), p.SSH...), fmt.Sprintf("kill -TERM %d 2>/dev/null; true", p.RemotePID))
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			run.Run(cctx, nil, argv...)
			cancel()
		}
	}
	if r.JobID != "" && len(r.Cancel) > 0 {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := run.Run(cctx, nil, r.Cancel...); err != nil {
			// already gone is fine
			if len(r.Query) == 0 {
				errs = append(errs, fmt.Errorf("stop %s job %s: %w", r.Kind, r.JobID, err))
			}
		}
		if len(r.Query) > 0 {
			deadline := time.Now().Add(grace)
			for {
				out, err := run.Run(cctx, nil, r.Query...)
				if jobGone(r.Kind, out, err) {
					break
				}
				if time.Now().After(deadline) || ctx.Err() != nil {
					errs = append(errs, fmt.Errorf("stop %s job %s: still listed after %v", r.Kind, r.JobID, grace))
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	return errors.Join(errs...)
}

// describe returns a short human description of a record.
func (r Record) describe() string {
	ids := ""
	switch {
	case r.N == 1:
		ids = fmt.Sprintf(" (engine %d)", r.FirstID)
	case r.N > 1:
		ids = fmt.Sprintf(" (engines %d-%d)", r.FirstID, r.FirstID+r.N-1)
	}
	what := r.Kind + " " + r.Role
	if r.Role == "engines" && r.N == 1 {
		what = r.Kind + " engine"
	}
	switch {
	case r.JobID != "":
		return fmt.Sprintf("%s job %s%s", what, r.JobID, ids)
	case len(r.Procs) == 1:
		host := ""
		if r.Procs[0].Host != "" {
			host = " on " + r.Procs[0].Host
		}
		return fmt.Sprintf("%s%s%s (pid %d)", what, ids, host, r.Procs[0].PID)
	}
	return what + ids
}

// RunningController returns the pid of a live local controller recorded
// in dir other than this process, if any.
func RunningController(dir string) (int, bool) {
	s, err := ReadState(dir)
	if err != nil {
		return 0, false
	}
	for _, r := range s.Records {
		if r.Role != "controller" {
			continue
		}
		for _, p := range r.Procs {
			if p.PID != os.Getpid() && alive(p.PID, p.Start) {
				return p.PID, true
			}
		}
	}
	return 0, false
}

// RecordProcess records a process started by hand (`pxsh controller`
// without a supervisor) in the profile's cluster.json, so that `pxsh
// cluster list` shows it and `pxsh cluster stop` stops it. Records of the
// same role whose processes are gone are dropped. ForgetProcess removes
// the record when the process ends.
func RecordProcess(dir, role string, pid int) error {
	rec := Record{Kind: "local", Role: role, Owner: int64(pid) << 32,
		Procs: []ProcRecord{{PID: pid, Start: procStartTime(pid), ID: -1}}}
	return updateState(dir, func(s *ClusterState) (*ClusterState, error) {
		if s == nil {
			s = &ClusterState{Started: time.Now()}
		}
		s.ProfileDir = dir
		if role == "controller" && s.Controller == "" {
			s.Controller = "local"
		}
		if c, err := profile.Read(profile.ConnectionPath(dir, false)); err == nil {
			s.ClusterID = c.ClusterID
		}
		keep := []Record{rec}
		for _, r := range s.Records {
			if r.Role == role && r.JobID == "" && !anyAlive(r.Procs) {
				continue
			}
			keep = append(keep, r)
		}
		s.Records = keep
		return s, nil
	})
}

// ForgetProcess removes the record RecordProcess wrote for pid, and the
// whole cluster.json when nothing else is recorded. It gives up after a
// second when another process holds the state (`pxsh cluster stop`
// removing everything).
func ForgetProcess(dir string, pid int) error {
	owner := int64(pid) << 32
	return updateStateWait(dir, time.Second, func(s *ClusterState) (*ClusterState, error) {
		if s == nil {
			return nil, nil
		}
		var keep []Record
		for _, r := range s.Records {
			if r.Owner != owner {
				keep = append(keep, r)
			}
		}
		s.Records = keep
		if len(keep) == 0 && (s.Supervisor == nil || !alive(s.Supervisor.PID, s.Supervisor.Start)) {
			return nil, nil
		}
		return s, nil
	})
}

func anyAlive(ps []ProcRecord) bool {
	for _, p := range ps {
		if alive(p.PID, p.Start) {
			return true
		}
	}
	return false
}

// lockFile takes an exclusive flock on f, waiting at most wait (for ever
// when wait < 0).
func lockFile(f *os.File, wait time.Duration) error {
	if wait < 0 {
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is locked by another process", f.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
