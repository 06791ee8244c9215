package e2e

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/internal/clustertest"
)

// TestSignalStopsAnything stops `pxsh run` and `pxsh -c` with SIGINT and
// SIGTERM while they run a pure-Starlark loop on the client or wait for a
// loop on the engines of their private cluster: the exit status is 130 or
// 143, the engines are gone and the temporary directory is empty.
func TestSignalStopsAnything(t *testing.T) {
	const (
		clientLoop = "rc = Client()\nprint(rc[:].apply_sync(lambda: engine.pid))\nwhile True:\n    pass\n"
		engineLoop = "rc = Client()\nprint(rc[:].apply_sync(lambda: engine.pid))\nrc[:].execute('while True:\\n    pass', block=True)\n"
	)
	for _, tc := range []struct {
		name   string
		cmd    string // "run" or "-c"
		code   string
		sig    syscall.Signal
		status int
	}{
		{"run/SIGINT/client loop", "run", clientLoop, syscall.SIGINT, 130},
		{"run/SIGTERM/client loop", "run", clientLoop, syscall.SIGTERM, 143},
		{"run/SIGTERM/engine wait", "run", engineLoop, syscall.SIGTERM, 143},
		{"-c/SIGINT/engine wait", "-c", engineLoop, syscall.SIGINT, 130},
		{"-c/SIGTERM/client loop", "-c", clientLoop, syscall.SIGTERM, 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tmp := filepath.Join(dir, "tmp")
			if err := os.Mkdir(tmp, 0o700); err != nil {
				t.Fatal(err)
			}
			args := []string{"-n", "2", "-c", tc.code}
			if tc.cmd == "run" {
				script := filepath.Join(dir, "loop.star")
				if err := os.WriteFile(script, []byte(tc.code), 0o644); err != nil {
					t.Fatal(err)
				}
				args = []string{"run", "-n", "2", script}
			}
			var stderr clustertest.SyncBuffer
			cmd, out := start(t, append(isolated(t), "TMPDIR="+tmp), &stderr, args...)
			pids := readPids(t, out, 2, stderr.String)
			if tc.code == engineLoop {
				// Wait until the engines run the loop, so the signal meets
				// a blocking wait.
				for _, pid := range pids {
					base := cpuTicks(pid)
					clustertest.Eventually(t, 10*time.Second, "engine "+strconv.Itoa(pid)+" to be busy", func() bool { return cpuTicks(pid) >= base+10 })
				}
			}
			cmd.Process.Signal(tc.sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != tc.status {
					t.Errorf("exit: %v, want status %d; stderr:\n%s", err, tc.status, stderr.String())
				}
			case <-time.After(10 * time.Second * clustertest.Scale()):
				t.Fatalf("pxsh %s did not stop on %v; stderr:\n%s", tc.cmd, tc.sig, stderr.String())
			}
			for _, pid := range pids {
				clustertest.Eventually(t, 5*time.Second, "engine "+strconv.Itoa(pid)+" to exit", func() bool { return !running(pid) })
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left in TMPDIR: %v", left)
			}
		})
	}
}

// readPids reads the first line of out, a list of n engine pids.
func readPids(t *testing.T, out io.Reader, n int, stderr func() string) []int {
	t.Helper()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read engine pids: %v; stderr:\n%s", err, stderr())
	}
	var pids []int
	for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r < '0' || r > '9' }) {
		p, _ := strconv.Atoi(f)
		pids = append(pids, p)
	}
	if len(pids) != n {
		t.Fatalf("engine pids from %q", line)
	}
	return pids
}

// running reports whether pid is a live (not zombie) process.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(b), ") Z ")
}

// cpuTicks returns the user CPU ticks of pid (0 if unknown).
func cpuTicks(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 12 {
		return 0
	}
	n, _ := strconv.Atoi(f[11]) // utime is field 14; f[0] is field 3
	return n
}
