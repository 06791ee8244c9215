package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/profile"
)

// processCluster starts a controller process with extra flags and n
// engines, and returns a client and the controller's pid.
func processCluster(b *testing.B, n int, flags ...string) (*client.Client, int) {
	dir := b.TempDir()
	ctl := clustertest.Process(b, append([]string{"controller", "--profile-dir", dir}, flags...)...)
	clustertest.WaitListening(b, dir, ctl.Process.Pid)
	for i := 0; i < n; i++ {
		clustertest.Process(b, "engine", "--file", profile.ConnectionPath(dir, true), "--id", strconv.Itoa(i))
	}
	cl, err := client.Dial(context.Background(), profile.ConnectionPath(dir, false), client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.WaitForEngines(ctx, n); err != nil {
		b.Fatal(err)
	}
	return cl, ctl.Process.Pid
}

// peakRSS returns a process's peak resident set size in MB.
func peakRSS(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return -1
}

func BenchmarkDatabaseOnVsMemory(b *testing.B) {
	for _, mode := range []struct{ name, flag string }{{"disk", "--hwm=16"}, {"memory", "--memory-db"}} {
		b.Run(mode.name, func(b *testing.B) {
			flags := []string{"--hwm=16"}
			if mode.flag == "--memory-db" {
				flags = append(flags, "--memory-db")
			}
			cl, _ := processCluster(b, 4, flags...)
			throughput(b, cl, 2000)
			rate, _ := throughput(b, cl, 20000)
			b.ReportMetric(rate, "tasks/s")
		})
	}
}

// BenchmarkControllerMemory runs 1,000,000 no-op load-balanced tasks,
// keeping at most 20,000 in flight, and reports the controller's peak RSS
// after each quarter.
func BenchmarkControllerMemory(b *testing.B) {
	if os.Getenv("PXSH_BENCH_LONG") == "" {
		b.Skip("set PXSH_BENCH_LONG=1 to run the 1,000,000-task memory benchmark")
	}
	const total, window = 1_000_000, 20_000
	cl, pid := processCluster(b, 4, "--hwm=16")
	lv := cl.LoadBalanced(client.TaskOptions{})
	ctx := context.Background()
	var inflight []*client.Task
	for done := 0; done < total; {
		for len(inflight) < window && done+len(inflight) < total {
			t, err := lv.ApplyAsync("lambda: None")
			if err != nil {
				b.Fatal(err)
			}
			inflight = append(inflight, t)
		}
		if err := inflight[0].Wait(ctx); err != nil {
			b.Fatal(err)
		}
		inflight = inflight[1:]
		done++
		if done%(total/4) == 0 {
			b.ReportMetric(peakRSS(pid), fmt.Sprintf("peakMB@%dk", done/1000))
		}
	}
}
