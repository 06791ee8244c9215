package program

import (
	"testing"
	"time"

	"github.com/pxsh/pxsh/launcher"
)

// The helpers of the cluster CLI tests (as launcher's own tests have them).

// assertAllGone waits until every process of procs ended.
func assertAllGone(t *testing.T, procs []launcher.ProcRecord) {
	t.Helper()
	for _, p := range procs {
		deadline := time.Now().Add(5 * time.Second)
		for launcher.Alive(p.PID) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // polling a process we do not own
		}
		if launcher.Alive(p.PID) {
			t.Errorf("process %d (engine %d) still running", p.PID, p.ID)
		}
	}
}
