package systemtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// need skips the test unless PXSH_SYSTEM_TESTS=1 and every tool is on
// PATH.
func need(t testing.TB, tools ...string) {
	t.Helper()
	if os.Getenv("PXSH_SYSTEM_TESTS") != "1" {
		t.Skip("system test: set PXSH_SYSTEM_TESTS=1 (after scripts/ci/*-up.sh) to run it")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("system test: %s not found (run the scripts/ci script that installs it)", tool)
		}
	}
}

// scale multiplies time bounds by PXSH_TEST_TIMESCALE (default 1).
func scale(d time.Duration) time.Duration {
	if f, err := strconv.ParseFloat(os.Getenv("PXSH_TEST_TIMESCALE"), 64); err == nil && f > 0 {
		return time.Duration(float64(d) * f)
	}
	return d
}

// procsMatching returns the pids whose command line contains s.
func procsMatching(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		st, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := strings.LastIndexByte(string(st), ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
			continue
		}
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			out = append(out, pid)
		}
	}
	return out
}

// eventually polls cond until it holds or d passes (see until).
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	until(t, d, cond, func() string { return what })
}

// until polls cond every 50 ms (the conditions run commands) until it
// holds; after d (scaled) it fails t with what failure says then.
func until(t *testing.T, d time.Duration, cond func() bool, failure func() string) {
	t.Helper()
	deadline := time.Now().Add(scale(d))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", scale(d), failure())
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded by the deadline
	}
}

// assertNoProcs fails if a process whose command line contains s is
// still running after a short grace.
func assertNoProcs(t *testing.T, s string) {
	t.Helper()
	var left []int
	until(t, 10*time.Second, func() bool { left = procsMatching(s); return len(left) == 0 }, func() string {
		var lines []string
		for _, p := range left {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
			lines = append(lines, strconv.Itoa(p)+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
		return "processes left behind:\n" + strings.Join(lines, "\n")
	})
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scale(60*time.Second))
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writeExec(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func sshdDir() string {
	if d := os.Getenv("PXSH_SSHD_DIR"); d != "" {
		return d
	}
	return "/tmp/pxsh-sshd"
}

func netnsDir() string {
	if d := os.Getenv("PXSH_NETNS_DIR"); d != "" {
		return d
	}
	return "/tmp/pxsh-netns"
}
