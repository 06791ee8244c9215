package program

import (
	"bytes"
	"context"
	"github.com/pxsh/pxsh/launcher/launchertest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/profile"
)

type cliEnv struct {
	env           clusterEnv
	out, errb     *bytes.Buffer
	root          string
	mu            sync.Mutex
	waited        []int
	waitConnFiles []string
}

func newCLI(t *testing.T) *cliEnv {
	t.Helper()
	c := &cliEnv{out: &bytes.Buffer{}, errb: &bytes.Buffer{}, root: t.TempDir()}
	bin := launchertest.WriteScript(t, t.TempDir(), "pxsh", launchertest.FakePxsh)
	c.env = clusterEnv{Stdout: c.out, Stderr: c.errb, Binary: bin,
		Getenv: func(k string) string {
			if k == "PXSH_DIR" {
				return c.root
			}
			return ""
		},
		WaitEngines: func(ctx context.Context, connFile string, n int) (int, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.waited = append(c.waited, n)
			c.waitConnFiles = append(c.waitConnFiles, connFile)
			return n, nil
		}}
	return c
}

func (c *cliEnv) run(ctx context.Context, args ...string) int {
	c.out.Reset()
	c.errb.Reset()
	return clusterCLI(ctx, args, c.env)
}

func TestProfileCreate(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	if code := profileCLI(ctx, []string{"create", "big"}, c.env); code != 0 {
		t.Fatalf("create: %d %s", code, c.errb)
	}
	path := filepath.Join(c.root, "profile_big", profile.ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), `# engines = "local"`) || !strings.Contains(string(b), "# n = 4") {
		t.Fatalf("config file: %v\n%s", err, b)
	}
	if code := profileCLI(ctx, []string{"create", "big"}, c.env); code == 0 {
		t.Error("create over an existing profile succeeded without --force")
	}
	if code := profileCLI(ctx, []string{"create", "big", "--force"}, c.env); code != 0 {
		t.Errorf("create --force: %d %s", code, c.errb)
	}
	c.out.Reset()
	profileCLI(ctx, []string{"list"}, c.env)
	if c.out.String() != "big\n" {
		t.Errorf("list: %q", c.out)
	}
	if code := profileCLI(ctx, []string{"create", "../x"}, c.env); code != exitUsage {
		t.Errorf("bad name: %d", code)
	}
}

func TestClusterCLIForeground(t *testing.T) {
	c := newCLI(t)
	// the profile's config file is read; flags override it
	dir := profile.Dir(c.root, "")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, profile.ConfigFile), []byte("n = 3\nscheme = \"lru\"\n"), 0o600)
	if code := c.run(context.Background(), "list"); code != 0 || strings.Count(c.out.String(), "\n") != 1 {
		t.Fatalf("list without clusters: %d %q", code, c.out)
	}
	if code := c.run(context.Background(), "stop"); code != exitAlreadyStopped {
		t.Errorf("stop without cluster: %d", code)
	}
	if code := c.run(context.Background(), "stop", "--all"); code != 0 {
		t.Errorf("stop --all without cluster: %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var out, errb bytes.Buffer
	env := c.env
	env.Stdout, env.Stderr = &out, &errb
	go func() { done <- clusterCLI(ctx, []string{"start", "-n", "2", "--wait"}, env) }()
	waitRecorded(t, dir, 2, &errb)
	ctlLog, _ := os.ReadFile(filepath.Join(dir, "log", "controller.log"))
	if !strings.Contains(string(ctlLog), "--scheme lru") {
		t.Errorf("controller command line %q lacks the config file's scheme", ctlLog)
	}
	// add engines from "another process"
	if code := c.run(context.Background(), "engines", "-n", "2", "--wait"); code != 0 {
		t.Fatalf("engines: %d %s", code, c.errb)
	}
	if !strings.Contains(c.out.String(), "ids 2-3") {
		t.Errorf("engines output %q", c.out)
	}
	c.run(context.Background(), "list")
	if !strings.Contains(c.out.String(), "fake-1") || !strings.Contains(c.out.String(), "True") || !strings.Contains(c.out.String(), " 4 ") {
		t.Errorf("list:\n%s", c.out)
	}
	st, _ := launcher.ReadState(dir)
	all := st.Procs()
	if code := c.run(context.Background(), "clean"); code == 0 {
		t.Error("clean of a running cluster succeeded")
	}
	// stop the supervisor as SIGTERM would (`pxsh cluster stop` from
	// another process signals it; in-process it cannot): its Stop also
	// stops the engines the other command added
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("start returned %d: %s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("start did not return after stop")
	}
	assertAllGone(t, all)
	if code := c.run(context.Background(), "stop"); code != exitAlreadyStopped {
		t.Errorf("stop after stop: %d %s", code, c.errb)
	}
	if code := c.run(context.Background(), "clean"); code != 0 {
		t.Errorf("clean: %d %s", code, c.errb)
	}
	if _, err := os.Stat(filepath.Join(dir, "log")); !os.IsNotExist(err) {
		t.Errorf("logs left after clean: %v", err)
	}
	c.mu.Lock()
	waited := append([]int(nil), c.waited...)
	c.mu.Unlock()
	sort.Ints(waited)
	if len(waited) != 2 || waited[0] != 2 || waited[1] != 4 {
		t.Errorf("WaitEngines calls %v", waited)
	}
}

func TestClusterCLIErrors(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	if code := c.run(ctx, "bogus"); code != exitUsage {
		t.Errorf("unknown command: %d", code)
	}
	if code := c.run(ctx, "start", "--engines", "condor"); code != exitError || !strings.Contains(c.errb.String(), "condor") {
		t.Errorf("unknown launcher: %d %s", code, c.errb)
	}
	if code := c.run(ctx, "engines", "-n", "2"); code != exitNoCluster {
		t.Errorf("engines without cluster: %d", code)
	}
	// remote engines with a loopback controller: refused, saying why
	code := c.run(ctx, "start", "-n", "2", "--engines", "ssh", "--hosts", "node1")
	if code != exitError || !strings.Contains(c.errb.String(), "loopback") || !strings.Contains(c.errb.String(), "--location") {
		t.Errorf("loopback: %d %s", code, c.errb)
	}
	if st, err := launcher.ReadState(profile.Dir(c.root, "")); err == nil && st.Running() {
		t.Errorf("refused start left a cluster: %+v", st)
	}
}
