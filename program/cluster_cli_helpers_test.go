package program

import (
	"fmt"
	"testing"
	"time"

	"github.com/pxsh/pxsh/internal/waittest"
	"github.com/pxsh/pxsh/launcher"
)

// The helpers of the cluster CLI tests (as launcher's own tests have them).

// assertAllGone waits until every process of procs ended.
func assertAllGone(t *testing.T, procs []launcher.ProcRecord) {
	t.Helper()
	for _, p := range procs {
		if !waittest.Poll(5*time.Second, func() bool { return !launcher.Alive(p.PID) }) {
			t.Errorf("process %d (engine %d) still running", p.PID, p.ID)
		}
	}
}

// waitRecorded waits until the profile's cluster.json in dir records the
// supervisor, n engines and the cluster id, and returns that state;
// errb is the supervisor's error output, for the failure message.
func waitRecorded(t *testing.T, dir string, n int, errb fmt.Stringer) *launcher.ClusterState {
	t.Helper()
	var st *launcher.ClusterState
	var err error
	waittest.Until(t, 10*time.Second, func() bool {
		st, err = launcher.ReadState(dir)
		return err == nil && st.Supervisor != nil && st.EngineCount() == n && st.ClusterID != ""
	}, func() string { return fmt.Sprintf("the cluster to be recorded: %+v %v\n%s", st, err, errb.String()) })
	return st
}
