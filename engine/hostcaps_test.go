package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/protocol"
)

// procStat is what /proc/PID/stat says about a process.
type procStat struct{ pid, ppid, pgid int }

// processes lists the live (non-zombie) processes.
func processes() []procStat {
	ents, _ := os.ReadDir("/proc")
	var out []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 4 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgid, _ := strconv.Atoi(f[2])
		out = append(out, procStat{pid, ppid, pgid})
	}
	return out
}

// TestHostCapabilities runs a granted and a sandboxed engine: each reports
// its grant at registration, the sandboxed one refuses sh with a
// PermissionError that says how to grant it, and aborting a running
// sh(...) kills its whole process group.
func TestHostCapabilities(t *testing.T) {
	c := clustertest.Start(t, 0, clustertest.Options{})
	granted := c.StartEngine(0, "--allow", "sh,env")
	c.StartEngine(1)
	cl := c.Client()
	c.WaitEngines(cl, 2)

	caps := map[int][]string{}
	for _, e := range cl.Engines() {
		caps[e.ID] = e.Caps
	}
	if !slices.Equal(caps[0], []string{"sh", "env"}) || len(caps[1]) != 0 {
		t.Errorf("engine caps = %v, want 0: [sh env], 1: none", caps)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*clustertest.Scale())
	defer cancel()
	ar, err := cl.View(1).ExecuteAsync(`sh(["true"])`, true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ar.Get(ctx)
	want := "[1:execute] PermissionError: sh is not allowed on this engine (start the cluster with --allow sh)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("sandboxed sh: got %v, want %q", err, want)
	}

	for _, code := range []string{`sh(["sleep", "100"])`, `sh("sleep 100 | sleep 101", shell=True)`} {
		t.Run(code, func(t *testing.T) { cancelKillsGroup(t, ctx, cl, granted.Process.Pid, code, 0) })
	}
	t.Run("task timeout", func(t *testing.T) {
		cancelKillsGroup(t, ctx, cl, granted.Process.Pid, `sh("sleep 100 | sleep 101", shell=True)`,
			5*float64(clustertest.Scale()))
	})
}

// cancelKillsGroup runs code (which starts sleeps) on engine 0, whose
// process is enginePid, aborts it (or, with a timeout in seconds, lets the
// engine's task timeout stop it), and checks that nothing of the command's
// process group remains.
func cancelKillsGroup(t *testing.T, ctx context.Context, cl *client.Client, enginePid int, code string, timeout float64) {
	body, err := client.Encode(code)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := cl.View(0).Submit(protocol.Request{Kind: protocol.KindExecute, Silent: true, Timeout: timeout}, body)
	if err != nil {
		t.Fatal(err)
	}
	var child procStat
	// (a child is briefly in the engine's group, between fork and setpgid)
	clustertest.Eventually(t, 20*time.Second, "the engine's child in a process group of its own", func() bool {
		for _, p := range processes() {
			if p.ppid == enginePid && p.pgid == p.pid {
				child = p
				return true
			}
		}
		return false
	})
	if code != `sh(["sleep", "100"])` {
		clustertest.Eventually(t, 20*time.Second, "the pipeline's processes", func() bool {
			n := 0
			for _, p := range processes() {
				if p.pgid == child.pid {
					n++
				}
			}
			return n >= 3 // sh and two sleeps
		})
	}
	want := "TaskTimeout"
	if timeout == 0 {
		want = "TaskAborted"
		if err := ar.Abort(cl); err != nil {
			t.Fatal(err)
		}
	}
	_, err = ar.Get(ctx)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %s", err, want)
	}
	clustertest.Eventually(t, 20*time.Second, "the process group to end", func() bool {
		for _, p := range processes() {
			if p.pgid == child.pid || p.ppid == enginePid {
				return false
			}
		}
		return true
	})
}
