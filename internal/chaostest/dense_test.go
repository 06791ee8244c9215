package chaostest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/profile"
)

// TestDenseRestarts: 6 engines in 2 processes, each carrying its 3
// engines on one connection, under --restart-engines. The controller is
// SIGKILLed: its restarted self (--restore) gets the 6 engines back over
// their processes' new connections, with their ids and namespaces. Then
// one engine process is SIGKILLed: its 3 engines die, the supervisor
// starts it again with the same ids, and the other process's engines
// keep their namespaces.
func TestDenseRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a controller and an engine process")
	}
	dir := t.TempDir()
	c := &chaos{t: t, bin: clustertest.Binary(t), env: append(os.Environ(), "PXSH_DIR="+dir, "NO_COLOR=1"),
		prof: filepath.Join(dir, "profile_default")}
	c.pxsh("cluster", "start", "-n", "6", "--engines-per-process", "3", "--restart-engines", "--daemonize", "--wait")
	before := c.pids()
	for _, pid := range c.enginePIDs() {
		before[-100-pid] = pid
	}
	t.Cleanup(func() { c.stopAndCheck(before) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second*clustertest.Scale())
	defer cancel()
	rc, err := client.Dial(ctx, profile.ConnectionPath(c.prof, false), client.Options{Reconnect: -1})
	if err != nil {
		t.Fatal(err)
	}
	all := []int{0, 1, 2, 3, 4, 5}
	if err := rc.WaitForEngines(ctx, len(all)); err != nil {
		t.Fatal(err)
	}
	if err := rc.View().Execute(ctx, "mine = engine.id * 10"); err != nil {
		t.Fatal(err)
	}
	rc.Close() // its connection dies with the controller

	old := c.pids()[-1]
	syscall.Kill(old, syscall.SIGKILL)
	clustertest.Eventually(t, 60*time.Second, "the restarted controller to have the 6 engines back", func() bool {
		if pid := c.pids()[-1]; pid == 0 || pid == old {
			return false
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		cl, err := client.Dial(dctx, profile.ConnectionPath(c.prof, false), client.Options{Reconnect: -1})
		if err != nil {
			return false
		}
		if !slices.Equal(cl.Ids(), all) {
			cl.Close()
			return false
		}
		rc = cl
		return true
	})
	defer rc.Close()
	check := func(ids []int) {
		t.Helper()
		got, err := rc.View(ids...).Apply(ctx, "lambda: (engine.id, mine)")
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if tup := v.(client.Tuple); tup[0] != int64(ids[i]) || tup[1] != int64(10*ids[i]) {
				t.Errorf("engine %d answered %v", ids[i], tup)
			}
		}
	}
	check(all)

	pids := c.enginePIDs()
	syscall.Kill(pids[3], syscall.SIGKILL)
	// The new process's engines have its pid.
	clustertest.Eventually(t, 60*time.Second, "engines 3-5 to be restarted", func() bool {
		p := c.enginePIDs()[3]
		if p == 0 || p == pids[3] || !slices.Equal(rc.Ids(), all) {
			return false
		}
		for _, e := range rc.Engines() {
			if e.ID >= 3 && e.PID != p {
				return false
			}
		}
		return true
	})
	check([]int{0, 1, 2})
	got, err := rc.View(3, 4, 5).Apply(ctx, "lambda: engine.id")
	if err != nil || !slices.Equal(got, []any{int64(3), int64(4), int64(5)}) {
		t.Fatalf("restarted engines answered %v, %v", got, err)
	}
}

// enginePIDs maps the first id of each engine process to its pid.
func (c *chaos) enginePIDs() map[int]int {
	st, err := launcher.ReadState(c.prof)
	if err != nil {
		return nil
	}
	out := map[int]int{}
	for _, r := range st.Records {
		if r.Role == "engines" && len(r.Procs) > 0 {
			out[r.FirstID] = r.Procs[0].PID
		}
	}
	return out
}
