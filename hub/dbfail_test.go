package hub_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/profile"
)

// TestTaskDatabaseDiskFull runs a controller whose profile is a small
// tmpfs (root only) and fills it: tasks keep running and their results
// reach the client, queries name the failure, and once space returns the
// database catches up by itself.
func TestTaskDatabaseDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	ctl := clustertest.Process(t, "controller", "--profile-dir", dir)
	clustertest.WaitListening(t, dir, ctl.Process.Pid)
	clustertest.Process(t, "engine", "--file", profile.ConnectionPath(dir, true), "--wait", "20s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*clustertest.Scale())
	defer cancel()
	cl, err := client.Dial(ctx, profile.ConnectionPath(dir, false), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.WaitForEngines(ctx, 1); err != nil {
		t.Fatal(err)
	}

	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for range 128 { // at most 8 MiB: more than the file system holds
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()

	lv := cl.LoadBalanced(client.TaskOptions{Label: "during"})
	const n = 50
	tasks := make([]*client.Task, n)
	for i := range tasks {
		if tasks[i], err = lv.ApplyAsync("lambda x: 'x' * (1000 + x)", i); err != nil {
			t.Fatal(err)
		}
	}
	vals, err := (&client.AsyncResult{Tasks: tasks}).Get(ctx)
	if err != nil {
		t.Fatalf("tasks while the disk is full: %v", err)
	}
	for i, v := range vals {
		if s, _ := v.(string); len(s) != 1000+i {
			t.Fatalf("task %d: %d characters", i, len(s))
		}
	}
	clustertest.Eventually(t, 20*time.Second, "db_query to report the failure", func() bool {
		_, err := cl.DBQuery(ctx, map[string]any{"label": "during"}, nil)
		return err != nil && strings.Contains(err.Error(), "task database failing") && strings.Contains(err.Error(), "full")
	})

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 20*time.Second, "the database to catch up", func() bool {
		rows, err := cl.DBQuery(ctx, map[string]any{"label": "during", "status": "ok"}, nil)
		return err == nil && len(rows) == n
	})
}
