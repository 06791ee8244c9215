package hostlib

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/internal/waittest"
	"github.com/pxsh/pxsh/starlarklib"
)

// eval runs expr with the modules of g (and ctx on the thread) and
// returns its value.
func eval(t *testing.T, ctx context.Context, g Grant, expr string) (starlark.Value, error) {
	t.Helper()
	thread := &starlark.Thread{Name: "test"}
	starlarklib.SetContext(thread, ctx)
	stop := context.AfterFunc(ctx, func() { thread.Cancel("cancelled") })
	defer stop()
	return starlark.EvalOptions(starlarklib.FileOptions(), thread, "test", expr, Modules(Config{Grant: g, MaxOutput: 64}))
}

func mustEval(t *testing.T, g Grant, expr string) starlark.Value {
	t.Helper()
	v, err := eval(t, context.Background(), g, expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func TestParseGrant(t *testing.T) {
	for _, c := range []struct{ in, caps, err string }{
		{"", "", ""},
		{"sh", "sh", ""},
		{"sh,env,fs=/scratch:/data/", "sh,env,fs=/scratch:/data", ""},
		{" fs=/a , sh ", "sh,fs=/a", ""},
		{"fs=rel", "", `fs root "rel" is not an absolute path`},
		{"fs", "", "fs needs roots"},
		{"net", "", `unknown capability "net"`},
		{"sh=1", "", `unknown capability "sh=1"`},
	} {
		g, err := ParseGrant(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseGrant(%q): err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || g.String() != c.caps {
			t.Errorf("ParseGrant(%q) = %q, %v; want %q", c.in, g, err, c.caps)
		}
	}
}

func TestDenied(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{`sh(["true"])`, "sh is not allowed on this engine (start the cluster with --allow sh)"},
		{`env.get("HOME")`, "env is not allowed on this engine (start the cluster with --allow env)"},
		{`fs.read_text("/etc/hostname")`, "fs is not allowed on this engine (start the cluster with --allow fs=/DIR)"},
	} {
		_, err := eval(t, context.Background(), Grant{}, c.expr)
		var pe *PermissionError
		if !errors.As(err, &pe) || pe.Error() != c.want {
			t.Errorf("%s: got %v, want PermissionError %q", c.expr, err, c.want)
		}
	}
	if v := mustEval(t, Grant{}, "host.cpus() > 0 and host.name() != ''"); v != starlark.True {
		t.Errorf("host: got %v", v)
	}
}

func TestSh(t *testing.T) {
	g := Grant{Sh: true}
	os.Setenv("PXSH_HOSTLIB_TEST", "inherited")
	for _, c := range []struct{ expr, want string }{
		{`sh(["echo", "a b"]).stdout`, "a b\n"},
		{`sh("echo x | tr x y", shell=True).stdout`, "y\n"},
		{`sh(["sh", "-c", "exit 3"]).code`, "3"},
		{`sh(["sh", "-c", "kill -TERM $$"]).code`, "-15"},
		{`sh(["sh", "-c", "echo err >&2"]).stderr_bytes`, `b"err\n"`},
		{`sh(["cat"], stdin="in").stdout`, "in"},
		{`sh(["cat"], stdin=b"\x00\x01").stdout_bytes`, `b"\x00\x01"`},
		{`sh(["pwd"], cwd="/").stdout`, "/\n"},
		{`sh("echo $PXSH_HOSTLIB_TEST $X", shell=True, env={"X": "set"}).stdout`, "inherited set\n"},
		{`sh("echo ${PXSH_HOSTLIB_TEST-gone}", shell=True, env={"PXSH_HOSTLIB_TEST": None}).stdout`, "gone\n"},
		{`sh(["true"]).ok and not sh(["false"]).ok`, "True"},
		{`sh("head -c 100 /dev/zero | tr '\\0' a", shell=True).truncated`, "True"},
		{`sh("head -c 100 /dev/zero | tr '\\0' a", shell=True).stdout`,
			strings.Repeat("a", 64) + "\n[sh: output truncated: kept the first 64 bytes, dropped 36]\n"},
		{`len(sh("head -c 100 /dev/zero", shell=True).stdout_bytes)`, "64"},
		{`len(sh("head -c 100 /dev/zero", shell=True, max_output=10).stdout_bytes)`, "10"},
	} {
		v := mustEval(t, g, c.expr)
		got := v.String()
		if s, ok := v.(starlark.String); ok {
			got = string(s)
		}
		if got != c.want {
			t.Errorf("%s = %q, want %q", c.expr, got, c.want)
		}
	}
	for _, c := range []struct{ expr, want string }{
		{`sh([])`, "sh: empty command"},
		{`sh([1])`, "sh: cmd[0]: got int, want string"},
		{`sh(["true"], timeout=-1)`, "sh: timeout: got -1, want a positive number of seconds"},
		{`sh(["/nonexistent/prog"])`, "no such file or directory"},
		{`sh(["true"], env={"A=B": "x"})`, "sh: env: bad name"},
	} {
		if _, err := eval(t, context.Background(), g, c.expr); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.expr, err, c.want)
		}
	}
}

// TestShTimeoutKillsGroup checks that a timeout kills the program and its
// children, and is a TimeoutError.
func TestShTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	start := time.Now()
	_, err := eval(t, context.Background(), Grant{Sh: true},
		`sh("sleep 100 & echo $! > `+pidFile+`; wait", shell=True, timeout=0.5)`)
	var te *TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "timed out after 0.5s") {
		t.Fatalf("got %v, want TimeoutError", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("timeout took %v", d)
	}
	waitGone(t, readPid(t, pidFile))
}

// TestShCancelKillsGroup checks that cancelling the thread's context
// kills the program and its children.
func TestShCancelKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := eval(t, ctx, Grant{Sh: true}, `sh("sleep 100 & echo $! > `+pidFile+`; wait", shell=True)`)
		done <- err
	}()
	waittest.For(t, 30*time.Second, "the child to write its pid", func() bool {
		b, err := os.ReadFile(pidFile)
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	pid := readPid(t, pidFile)
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "cancelled") {
			t.Errorf("got %v, want a cancellation", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sh did not return after cancel")
	}
	waitGone(t, pid)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitGone waits until pid no longer exists (or is a zombie of init).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	waittest.For(t, 30*time.Second, fmt.Sprintf("process %d to end", pid), func() bool {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return true
		}
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
		return len(f) > 0 && f[0] == "Z"
	})
}

// TestResultsTravel: sh and fs.stat results can be returned from a task
// (they were structs with their own constructor, which the codec refuses).
func TestResultsTravel(t *testing.T) {
	dir := t.TempDir()
	g := Grant{Sh: true, Roots: []string{dir}}
	for _, expr := range []string{`sh(["echo", "hi"])`, `fs.stat(` + strconv.Quote(dir) + `)`} {
		v := mustEval(t, g, expr)
		b, err := starlarklib.Encode(v, nil)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		back, err := starlarklib.Decode(b, nil)
		if err != nil {
			t.Fatalf("%s: decode: %v", expr, err)
		}
		if back.String() != v.String() {
			t.Errorf("%s: sent %s, got %s", expr, v, back)
		}
	}
}
