package program

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/internal/waittest"
	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/profile"
)

// TestClusterCLIAllow checks that the config file's grant reaches the
// engines' command lines, that --allow overrides it, that `cluster list`
// shows it, that added engines inherit it, and that a bad grant stops the
// start before anything runs.
func TestClusterCLIAllow(t *testing.T) {
	c := newCLI(t)
	c.env.CheckAllow = func(spec string) error {
		if strings.Contains(spec, "bogus") {
			return errors.New(`unknown capability "bogus"`)
		}
		return nil
	}
	dir := profile.Dir(c.root, "")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, profile.ConfigFile), []byte(`allow = ["env"]`+"\n"), 0o600)
	if code := c.run(context.Background(), "start", "-n", "1", "--allow", "sh,bogus"); code != exitError ||
		!strings.Contains(c.errb.String(), `unknown capability "bogus"`) {
		t.Fatalf("bad grant: %d %s", code, c.errb)
	}
	if _, err := launcher.ReadState(dir); err == nil {
		t.Fatal("a refused start left cluster.json")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var out, errb bytes.Buffer
	env := c.env
	env.Stdout, env.Stderr = &out, &errb
	go func() { done <- clusterCLI(ctx, []string{"start", "-n", "1", "--allow", "sh,fs=/tmp"}, env) }()
	st := waitRecorded(t, dir, 1, &errb)
	if st.Allow != "sh,fs=/tmp" {
		t.Errorf("state Allow = %q", st.Allow)
	}
	c.run(context.Background(), "list")
	if !strings.Contains(c.out.String(), "ALLOW") || !strings.Contains(c.out.String(), "sh,fs=/tmp") {
		t.Errorf("list:\n%s", c.out)
	}
	if code := c.run(context.Background(), "engines", "-n", "1"); code != 0 {
		t.Fatalf("engines: %d %s", code, c.errb)
	}
	for _, id := range []string{"0", "1"} {
		log := filepath.Join(dir, "log", "engine-"+id+".log")
		waitContains(t, log, "--allow sh,fs=/tmp")
	}
	st, _ = launcher.ReadState(dir)
	all := st.Procs()
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("start did not return after stop")
	}
	assertAllGone(t, all)
}

// waitContains waits until the file at path contains s.
func waitContains(t *testing.T, path, s string) {
	t.Helper()
	var b []byte
	waittest.Until(t, 10*time.Second, func() bool { b, _ = os.ReadFile(path); return strings.Contains(string(b), s) },
		func() string { return fmt.Sprintf("%s to contain %q; it has %q", path, s, b) })
}
