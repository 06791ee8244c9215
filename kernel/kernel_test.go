package kernel_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/internal/clustertest"
)

// python returns a Python with jupyter_client ($PXSH_PYTHON, else
// Debian's /usr/bin/python3), or skips the test.
func python(t *testing.T) string {
	py := os.Getenv("PXSH_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if _, err := exec.LookPath(py); err != nil {
		t.Skipf("no %s: install python3-jupyter-client (scripts/ci/jupyter.sh) to test the Jupyter kernel", py)
	}
	if out, err := exec.Command(py, "-c", "import jupyter_client").CombinedOutput(); err != nil {
		t.Skipf("%s has no jupyter_client (install python3-jupyter-client: scripts/ci/jupyter.sh): %v %s", py, err, out)
	}
	return py
}

// TestJupyterClient runs the real Jupyter client (KernelManager,
// BlockingKernelClient) against `pxsh kernel` with a private cluster of 2
// engines: execute, streams, %px, errors, pictures, completion,
// inspection, is_complete, a badly signed request, interrupt, restart
// and shutdown (testdata/kernel_client.py).
func TestJupyterClient(t *testing.T) {
	py := python(t)
	bin := clustertest.Binary(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "kernel", "install", "--prefix", dir, "-n", "2").CombinedOutput()
	if err != nil {
		t.Fatalf("pxsh kernel install: %v\n%s", err, out)
	}
	spec, err := os.ReadFile(filepath.Join(dir, "share/jupyter/kernels/pxsh/kernel.json"))
	if err != nil || !strings.Contains(string(spec), `"{connection_file}"`) {
		t.Fatalf("kernelspec: %v\n%s", err, spec)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second*clustertest.Scale())
	defer cancel()
	script, err := filepath.Abs("testdata/kernel_client.py")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, py, "-u", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"JUPYTER_PATH="+filepath.Join(dir, "share/jupyter"),
		"JUPYTER_RUNTIME_DIR="+filepath.Join(dir, "runtime"),
		"JUPYTER_CONFIG_DIR="+filepath.Join(dir, "config"),
		"JUPYTER_DATA_DIR="+filepath.Join(dir, "data"),
		"PXSH_DIR="+filepath.Join(dir, "pxsh"),
		"PYTHONDONTWRITEBYTECODE=1")
	out, err = cmd.CombinedOutput()
	t.Logf("kernel_client.py:\n%s", out)
	if err != nil {
		t.Fatalf("kernel_client.py: %v", err)
	}
	if !strings.Contains(string(out), "\nOK\n") {
		t.Fatal("kernel_client.py did not finish")
	}
}
