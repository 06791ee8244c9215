package clientlib_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/shell/clientlib"
	"github.com/pxsh/pxsh/starlarklib"
)

// nEngines is the size of the shared test cluster.
const nEngines = 4

var (
	shared     *clustertest.Cluster
	sharedOnce sync.Mutex
)

// harness is a Starlark client environment connected to a test cluster.
type harness struct {
	t      *testing.T
	ns     *starlarklib.Namespace
	env    *clientlib.Env
	thread *starlark.Thread
	out    *bytes.Buffer
}

func newHarness(t *testing.T, cl *clustertest.Cluster) *harness {
	t.Helper()
	h := &harness{t: t, out: &bytes.Buffer{}}
	h.env = &clientlib.Env{
		Stdout: h.out,
		Connect: func(ctx context.Context, profile, file string, timeout time.Duration) (*client.Client, error) {
			c, err := client.Dial(ctx, cl.ClientFile, client.Options{Timeout: timeout})
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
			return c, err
		},
	}
	builtins := starlarklib.Modules()
	for k, v := range clientlib.Builtins(h.env) {
		builtins[k] = v
	}
	h.ns = starlarklib.NewNamespace(builtins)
	h.env.NS = h.ns
	h.thread = &starlark.Thread{
		Name:  t.Name(),
		Print: func(_ *starlark.Thread, msg string) { h.out.WriteString(msg + "\n") },
		Load: func(th *starlark.Thread, module string) (starlark.StringDict, error) {
			if module == "assert.star" {
				return starlarktest.LoadAssertModule()
			}
			return h.ns.Load(th, module)
		},
	}
	starlarktest.SetReporter(h.thread, t)
	return h
}

// exec runs code in the harness's namespace.
func (h *harness) exec(file, code string) error {
	_, err := h.ns.Exec(h.thread, file, code, false)
	return err
}

// eval evaluates an expression.
func (h *harness) eval(expr string) starlark.Value {
	h.t.Helper()
	v, err := h.ns.Exec(h.thread, "<eval>", expr, true)
	if err != nil {
		h.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

func (h *harness) must(code string) {
	h.t.Helper()
	if err := h.exec("<test>", code); err != nil {
		h.t.Fatalf("%s\n%s", clientlib.ErrorReport(err, false), code)
	}
}

// sharedCluster returns the package's 4-engine cluster, started by the
// first test that needs it. Tests that change engines start their own.
func sharedCluster(t *testing.T) *clustertest.Cluster {
	t.Helper()
	sharedOnce.Lock()
	defer sharedOnce.Unlock()
	if shared == nil {
		shared = startCluster(t, nEngines)
	}
	return shared
}

// startCluster starts a cluster that lives until the package's tests end.
func startCluster(t *testing.T, n int) *clustertest.Cluster {
	t.Helper()
	tb := &longLived{T: t}
	c := clustertest.Start(tb, n, clustertest.Options{})
	return c
}

// longLived defers cleanups to TestMain, so that one cluster serves many
// tests.
type longLived struct {
	*testing.T
}

var (
	cleanMu  sync.Mutex
	cleanups []func()
)

func (l *longLived) Cleanup(f func()) {
	cleanMu.Lock()
	cleanups = append(cleanups, f)
	cleanMu.Unlock()
}

func (l *longLived) TempDir() string {
	d, err := os.MkdirTemp("", "clientlib-test-")
	if err != nil {
		l.Fatal(err)
	}
	l.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestMain(m *testing.M) {
	code := m.Run()
	cleanMu.Lock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanMu.Unlock()
	os.Exit(code)
}

// TestScripts runs testdata/*.star against the shared cluster, each in a
// fresh client namespace after clearing the engines.
func TestScripts(t *testing.T) {
	cl := sharedCluster(t)
	files, err := filepath.Glob(filepath.Join("testdata", "*.star"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasPrefix(filepath.Base(file), "lib_") {
			continue // modules for sync_imports
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			h := newHarness(t, cl)
			h.must("Client().clear()")
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.exec(file, string(src)); err != nil {
				t.Fatalf("%s", clientlib.ErrorReport(err, false))
			}
		})
	}
}
