package shell

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/profile"
)

// restartWait bounds how long the shell waits for a recorded cluster
// whose controller is down while its supervisor lives (and restarts it).
const restartWait = 15 * time.Second

// profileCluster returns the client connection file of the cluster
// recorded in profile directory dir, or "" when the profile records no
// cluster (then a private cluster may be started). A recorded cluster
// that is not reachable is an error saying so, never a silent fallback.
func profileCluster(ctx context.Context, dir string) (string, error) {
	path := profile.ConnectionPath(dir, false)
	deadline := time.Now().Add(restartWait)
	for {
		c, cerr := profile.Read(path)
		if cerr == nil && launcher.Alive(c.PID) {
			return path, nil
		}
		st, serr := launcher.ReadState(dir)
		if cerr == nil && serr == nil && st.Controller != "" && st.Controller != "local" {
			return path, nil // a remote controller: its pid says nothing here
		}
		_, statErr := os.Stat(path)
		if statErr != nil && errors.Is(serr, launcher.ErrNoCluster) {
			return "", nil
		}
		// a live supervisor restarts a controller that died: wait for it
		running := serr == nil && st.Supervisor != nil && launcher.Alive(st.Supervisor.PID)
		if !running || time.Now().After(deadline) {
			why := "nothing of it is running"
			switch {
			case cerr == nil:
				why = fmt.Sprintf("its controller (pid %d) is not running", c.PID)
			case running:
				why = "its controller did not come back within " + restartWait.String()
			case statErr == nil:
				why = cerr.Error()
			}
			return "", fmt.Errorf("the cluster recorded in profile %q is not reachable: %s (connection file %s); "+
				"restart it with `pxsh cluster stop && pxsh cluster start`, or run `pxsh cluster stop` to forget it and use a private cluster instead",
				profileName(dir), why, path)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func profileName(dir string) string {
	return strings.TrimPrefix(filepath.Base(dir), "profile_")
}
