package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAllow checks host capabilities end to end: the shell itself has sh
// and fs; a private cluster's engines have them only with --allow, and
// then fs stays under its roots; --allow cannot name another cluster.
func TestAllow(t *testing.T) {
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "p.csv"), []byte("p,q\n1,2\n3,4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := `%px print(sh(["echo", "hi"]).stdout.strip())
%px print(len(fs.read_text("DATA/p.csv").splitlines()))
print(sh("echo local | tr a-z A-Z", shell=True).stdout.strip())
`
	in = strings.ReplaceAll(in, "DATA", data)
	out, code := run(t, isolated(t), in, "-n", "2", "--allow", "sh,fs="+data)
	want := "[stdout:0] hi\n[stdout:1] hi\n[stdout:0] 3\n[stdout:1] 3\nLOCAL\n"
	if code != 0 || out != want {
		t.Errorf("--allow: exit %d, output:\n%s\nwant:\n%s", code, out, want)
	}
	out, _ = run(t, isolated(t), "%px fs.read_text('/etc/hostname')\n", "-n", "1", "--allow", "fs="+data)
	if want := "[0:execute] PermissionError: fs.read_text: /etc/hostname is outside the allowed roots " + data; !strings.Contains(out, want) {
		t.Errorf("fs outside its root: output:\n%s\nwant %q", out, want)
	}

	out, code = run(t, isolated(t), "%px sh(['true'])\n", "-n", "1")
	if code == 0 || !strings.Contains(out, "[0:execute] PermissionError: sh is not allowed on this engine (start the cluster with --allow sh)") {
		t.Errorf("sandboxed: exit %d, output:\n%s", code, out)
	}

	out, code = run(t, isolated(t), "", "--allow", "sh", "--profile", "x", "-c", "1")
	if code != 2 || !strings.Contains(out, "--allow starts a private cluster") {
		t.Errorf("--allow --profile: exit %d, output:\n%s", code, out)
	}
	out, code = run(t, isolated(t), "", "--allow", "bogus", "-c", "Client()")
	if code == 0 || !strings.Contains(out, `unknown capability "bogus"`) {
		t.Errorf("--allow bogus: exit %d, output:\n%s", code, out)
	}
}
