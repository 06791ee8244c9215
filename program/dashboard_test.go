package program

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pxsh/pxsh/hub"
)

// TestDashboardAndTop runs `pxsh dashboard` and `pxsh top --once`
// against an in-process controller with its dashboard.
func TestDashboardAndTop(t *testing.T) {
	dir := t.TempDir()
	h, err := hub.New(hub.Config{ProfileDir: dir, MemoryDB: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { h.Serve(ctx); close(served) }()
	<-h.Ready()
	stop, err := startDashboard(ctx, h, "127.0.0.1:0", dir, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); cancel(); <-served })

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Run(append([]string{"pxsh"}, args...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("dashboard", "--profile-dir", dir)
	if code != 0 || !strings.HasPrefix(out, "http://127.0.0.1:") || !strings.Contains(out, "/?token=") {
		t.Fatalf("pxsh dashboard: %d %q %q", code, out, errs)
	}
	code, out, errs = run("top", "--once", "--profile-dir", dir)
	if code != 0 || !strings.Contains(out, "pxsh top  cluster "+h.Connection().ClusterID) || !strings.Contains(out, "STATE") {
		t.Fatalf("pxsh top --once: %d %q %q", code, out, errs)
	}
	code, _, errs = run("dashboard", "--profile-dir", t.TempDir())
	if code != 1 || !strings.Contains(errs, "no controller serves a dashboard") {
		t.Errorf("pxsh dashboard without a controller: %d %q", code, errs)
	}
}
