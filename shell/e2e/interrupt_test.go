package e2e

import (
	"bufio"
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

// TestScriptInterruptLeavesNothing interrupts a script running on a
// private cluster: it exits 130 and its engines and profile are gone.
func TestScriptInterruptLeavesNothing(t *testing.T) {
	script := filepath.Join(t.TempDir(), "sleepy.star")
	os.WriteFile(script, []byte("rc = Client()\nprint(rc[:].apply_sync(lambda: engine.pid))\nrc[:].apply_sync(lambda: time.sleep(60))\n"), 0o644)
	cmd, out := start(t, isolated(t), nil, "run", "-n", "2", script)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read engine pids: %v", err)
	}
	var pids []int
	for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r < '0' || r > '9' }) {
		n, _ := strconv.Atoi(f)
		pids = append(pids, n)
	}
	if len(pids) != 2 {
		t.Fatalf("engine pids from %q", line)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Errorf("exit: %v, want status 130", err)
		}
	case <-time.After(10 * time.Second * clustertest.Scale()):
		t.Fatal("pxsh run did not stop on SIGINT")
	}
	for _, pid := range pids {
		clustertest.Eventually(t, 5*time.Second, "engine "+strconv.Itoa(pid)+" to exit", func() bool {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			return err != nil || strings.Contains(string(b), ") Z ")
		})
	}
}
