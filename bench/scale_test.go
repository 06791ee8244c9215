package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/profile"
)

// scaleSizes are the engine counts BenchmarkScale runs:
// $PXSH_SCALE_ENGINES (comma-separated), default 1000; engines per
// process: $PXSH_SCALE_PER_PROCESS, default 40.
func scaleSizes() (sizes []int, per int) {
	per = 40
	if n, err := strconv.Atoi(os.Getenv("PXSH_SCALE_PER_PROCESS")); err == nil && n > 0 {
		per = n
	}
	for _, f := range strings.Split(os.Getenv("PXSH_SCALE_ENGINES"), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			sizes = append(sizes, n)
		}
	}
	if len(sizes) == 0 {
		sizes = []int{1000}
	}
	return sizes, per
}

// BenchmarkScale starts N engines with `pxsh cluster start
// --engines-per-process K --wait` (the controller's default heartbeats)
// and measures registration, execute and apply on all, a 2 MB broadcast
// push, the idle controller's CPU and memory, and the death of one
// engine process. `make bench-scale` runs it.
func BenchmarkScale(b *testing.B) {
	sizes, per := scaleSizes()
	for _, n := range sizes {
		b.Run(fmt.Sprintf("engines=%d/per-process=%d", n, per), func(b *testing.B) { scaleRun(b, n, per) })
	}
}

func scaleRun(b *testing.B, n, per int) {
	bin := clustertest.Binary(b)
	root := b.TempDir()
	env := append(os.Environ(), "PXSH_DIR="+root)
	pxsh := func(args ...string) ([]byte, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	t0 := time.Now()
	if out, err := pxsh("cluster", "start", "-n", strconv.Itoa(n), "--engines-per-process", strconv.Itoa(per), "--daemonize", "--wait"); err != nil {
		pxsh("cluster", "stop")
		b.Fatalf("cluster start: %v\n%s", err, out)
	}
	registered := time.Since(t0)
	b.Cleanup(func() { pxsh("cluster", "stop") })
	dir := profile.Dir(root, "default")
	conn, err := profile.Read(profile.ConnectionPath(dir, false))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cl, err := client.Dial(ctx, profile.ConnectionPath(dir, false), client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := cl.WaitForEngines(ctx, n); err != nil {
		b.Fatal(err)
	}
	ids := cl.Ids()
	engines := enginePIDs(b, dir)
	ctl0 := cpuTicks(b, conn.PID)
	exec := median(timeN(b, 10, func() error { return cl.View().Execute(ctx, "a = 1") }))
	execCPU := float64(cpuTicks(b, conn.PID)-ctl0) * 10 / 10 // ms per call (ticks are 10 ms)
	apply := median(timeN(b, 10, func() error {
		got, err := cl.View().Apply(ctx, "lambda: engine.id")
		if err == nil && len(got) != len(ids) {
			err = fmt.Errorf("%d values from %d engines", len(got), len(ids))
		}
		for i, v := range got {
			if err == nil && v != int64(ids[i]) {
				err = fmt.Errorf("value %d is %v: not in engine order", i, v)
			}
		}
		return err
	}))
	eng0, idle0 := cpuTicks(b, engines...), time.Now()
	cpu, rss := idleController(b, conn.PID, 10*time.Second)
	engCPU := float64(cpuTicks(b, engines...)-eng0) / 100 / time.Since(idle0).Seconds() * 100 // percent of a core
	blob := bytes.Repeat([]byte{7}, 2<<20)
	// A failed push (an engine declared dead meanwhile) is reported, and
	// the rest measured on the engines left.
	var pushErr error
	push := median(timeN(b, 3, func() error {
		if err := cl.BroadcastView().Push(ctx, map[string]any{"blob": blob}); err != nil && pushErr == nil {
			pushErr = err
		}
		return nil
	}))
	if pushErr != nil {
		fmt.Printf("scale: %d engines: broadcast push failed: %.300s\n", n, pushErr)
		b.Errorf("broadcast push: %v", pushErr)
	}
	death := killOne(b, ctx, cl, dir, per, n)
	fmt.Printf("scale: %d engines (%d processes × %d): registered in %v (cluster start --wait); execute(\"a = 1\") on all %v median; "+
		"apply(lambda: engine.id) %v median; broadcast push 2 MB %v median; idle controller %.1f%% of a core, %d MiB RSS; "+
		"a killed process of %d engines noticed in %v; controller CPU %.0f ms per execute on all, idle engine processes %.1f%% of a core; load %s\n",
		n, (n+per-1)/per, per, registered.Round(time.Millisecond), exec.Round(100*time.Microsecond), apply.Round(100*time.Microsecond),
		push.Round(time.Millisecond), cpu, rss>>20, per, death.Round(time.Millisecond), execCPU, engCPU, loadAvg())
	b.ReportMetric(registered.Seconds(), "register-s")
	b.ReportMetric(ms(exec), "execute-ms")
	b.ReportMetric(ms(apply), "apply-ms")
	b.ReportMetric(ms(push), "push2MB-ms")
	b.ReportMetric(cpu, "idle-cpu-%")
	b.ReportMetric(float64(rss>>20), "rss-MiB")
	b.ReportMetric(ms(death), "death-ms")
	b.ReportMetric(execCPU, "execute-ctl-cpu-ms")
	b.ReportMetric(engCPU, "idle-engines-cpu-%")
}

// cpuTicks sums the user and system CPU time of processes, in clock
// ticks (1/100 s).
func cpuTicks(b *testing.B, pids ...int) int64 {
	var n int64
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		n += u + s
	}
	return n
}

// loadAvg is the machine's load average (1, 5, 15 minutes).
func loadAvg() string {
	raw, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(raw)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// enginePIDs returns the pids of the cluster's engine processes.
func enginePIDs(b *testing.B, dir string) []int {
	st, err := readState(dir)
	if err != nil {
		b.Fatal(err)
	}
	var pids []int
	for _, r := range st.Records {
		if r.Role == "engines" {
			for _, p := range r.Procs {
				pids = append(pids, p.PID)
			}
		}
	}
	return pids
}

type clusterState struct {
	Records []struct {
		Role    string `json:"role"`
		FirstID int    `json:"first_id"`
		N       int    `json:"n"`
		Procs   []struct {
			PID int `json:"pid"`
		} `json:"procs"`
	} `json:"records"`
}

func readState(dir string) (*clusterState, error) {
	raw, err := os.ReadFile(filepath.Join(dir, profile.ClusterStateFile))
	if err != nil {
		return nil, err
	}
	var st clusterState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", profile.ClusterStateFile, err)
	}
	return &st, nil
}

// idleController measures the controller's CPU (percent of one core) over
// d and its resident memory.
func idleController(b *testing.B, pid int, d time.Duration) (float64, int64) {
	ticks := func() int64 { return cpuTicks(b, pid) }
	// Both sleeps are the measurement, not synchronisation: the first
	// leaves the previous phase's tail (database commits, collections)
	// out of the idle figure, the second is the window measured.
	time.Sleep(2 * time.Second)
	a, t0 := ticks(), time.Now()
	time.Sleep(d)
	cpu := float64(ticks()-a) / 100 / time.Since(t0).Seconds() * 100 // USER_HZ is 100 on Linux
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	var rss int64
	for _, l := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			rss = kb << 10
		}
	}
	return cpu, rss
}

// killOne SIGKILLs the engine process running ids per..2·per-1 (the
// second one) and returns how long until the client saw them leave;
// the others must still answer, in order.
func killOne(b *testing.B, ctx context.Context, cl *client.Client, dir string, per, n int) time.Duration {
	st, err := readState(dir)
	if err != nil {
		b.Fatal(err)
	}
	first := min(per, n-1)
	pid := 0
	for _, r := range st.Records {
		if r.Role == "engines" && r.FirstID == first && len(r.Procs) > 0 {
			pid = r.Procs[0].PID
		}
	}
	if pid == 0 {
		b.Fatalf("no engine process with first id %d in %+v", first, st)
	}
	n = len(cl.Ids())
	before := cl.Ids()
	var want []int
	for _, id := range before {
		if id < first || id >= first+per {
			want = append(want, id)
		}
	}
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		b.Fatal(err)
	}
	limit := time.NewTimer(time.Minute)
	defer limit.Stop()
	for {
		changed := cl.Changed()
		if slices.Equal(cl.Ids(), want) {
			break
		}
		select {
		case <-changed:
		case <-cl.Done():
			b.Fatalf("the client's connection ended while waiting for engines %d..%d to leave", first, first+per-1)
		case <-limit.C:
			b.Fatalf("engines %d..%d still registered after a minute: %d engines", first, first+per-1, len(cl.Ids()))
		}
	}
	death := time.Since(t0)
	got, err := cl.View().Apply(ctx, "lambda: engine.id")
	if err != nil {
		b.Fatal(err)
	}
	for i, v := range got {
		if v != int64(want[i]) {
			b.Fatalf("after the kill, value %d is %v, want %d", i, v, want[i])
		}
	}
	return death
}
