package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
)

// A client process stopped for longer than client.LostAfter (Ctrl-Z,
// then fg) while it submits tasks to a long-lived cluster goes on when
// resumed: the controller keeps its connection for client.StallTimeout,
// and the client's watchdog does not take its own stop for the
// controller's silence.
func TestClientSurvivesAStop(t *testing.T) {
	env := isolated(t)
	if out, code := run(t, env, "", "cluster", "start", "-n", "1", "--daemonize", "--wait"); code != 0 {
		t.Fatalf("cluster start: exit %d\n%s", code, out)
	}
	t.Cleanup(func() { run(t, env, "", "cluster", "stop") })

	stop := client.LostAfter + time.Second
	script := filepath.Join(t.TempDir(), "busy.star")
	os.WriteFile(script, []byte(fmt.Sprintf(`rc = Client()
e = rc[0]
print(e.apply_sync(lambda: "ready"))
t0 = time.now()
n = 0
for i in range(100000000):
    n += e.apply_sync(lambda x: x, 1)
    if time.now() - t0 > time.parse_duration("%s"):
        break
print("done", n > 0)
`, stop+time.Second)), 0o644)
	var stderr clustertest.SyncBuffer
	cmd, out := start(t, env, &stderr, "run", script)
	lines := bufio.NewReader(out)
	if line, err := lines.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("first line %q, %v; stderr:\n%s", line, err, stderr.String())
	}
	// The stop itself is what is tested: it lasts past LostAfter.
	cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(stop)
	cmd.Process.Signal(syscall.SIGCONT)

	rest, _ := lines.ReadString(0)
	if err := cmd.Wait(); err != nil || rest != "done True\n" {
		t.Fatalf("after the stop: %v, output %q; stderr:\n%s", err, rest, stderr.String())
	}
}
