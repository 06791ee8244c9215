package launcher

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pxsh/pxsh/profile"
)

// ErrClusterRunning is returned by CleanProfile for a profile whose
// cluster is running.
var ErrClusterRunning = errors.New("a cluster is running")

// StartupTimeout returns how long a cluster may take to come up
// (StartTimeout, default 60s).
func (c Config) StartupTimeout() time.Duration {
	if c.StartTimeout > 0 {
		return c.StartTimeout
	}
	return 60 * time.Second
}

// ProfileDirs returns every profile directory under root, sorted.
func ProfileDirs(root string) []string {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "profile_") {
			out = append(out, filepath.Join(root, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// ProfileName returns the name of the profile directory dir.
func ProfileName(dir string) string { return strings.TrimPrefix(filepath.Base(dir), "profile_") }

// CleanProfile removes the cluster state, its lock, the connection files
// and the logs of the profile in dir, and returns the base names of what
// it removed and the removals that failed. It refuses (ErrClusterRunning)
// while the profile's cluster runs.
func CleanProfile(dir string) (removed []string, errs []error) {
	if st, err := ReadState(dir); err == nil && st.Running() {
		return nil, []error{ErrClusterRunning}
	}
	for _, f := range []string{StatePath(dir), StatePath(dir) + ".lock", profile.ConnectionPath(dir, true),
		profile.ConnectionPath(dir, false), filepath.Join(dir, "log")} {
		if _, err := os.Stat(f); err == nil {
			if err := os.RemoveAll(f); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, filepath.Base(f))
		}
	}
	return removed, errs
}

// PendingEngines describes each engine launcher recorded in the profile
// dir and its state (running, not running, or its batch job's state as
// its query command reports it), for naming engines that did not
// register.
func PendingEngines(ctx context.Context, dir string) []string {
	st, err := ReadState(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range st.Records {
		if r.Role != "engines" {
			continue
		}
		running := r.JobID != ""
		for _, p := range r.Procs {
			running = running || alive(p.PID, p.Start)
		}
		state := "not running"
		if running {
			state = "running"
		}
		if r.JobID != "" {
			state = "submitted, may still be queued"
			if len(r.Query) > 0 {
				qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				out, err := ExecRunner{}.Run(qctx, nil, r.Query...)
				cancel()
				if first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); err == nil && first != "" {
					state = "state " + strings.Join(strings.Fields(first), " ")
				}
			}
		}
		out = append(out, r.describe()+": "+state)
	}
	return out
}
