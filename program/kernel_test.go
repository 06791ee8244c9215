package program_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxsh/pxsh/program"
)

// pxsh kernel install writes a kernelspec that starts this binary as a
// kernel with the cluster options; bad combinations are refused.
func TestKernelInstall(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := program.Run([]string{"pxsh", "kernel", "install", "--prefix", dir, "--profile", "lab"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "share/jupyter/kernels/pxsh-lab/kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Argv        []string `json:"argv"`
		DisplayName string   `json:"display_name"`
		Language    string   `json:"language"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(spec.Argv[1:], " ")
	if got != "kernel -f {connection_file} --profile lab" || !filepath.IsAbs(spec.Argv[0]) || spec.Language != "starlark" {
		t.Fatalf("kernelspec %s", b)
	}
	for _, args := range [][]string{
		{"kernel", "install", "--prefix", dir, "--profile", "lab", "-n", "2"},
		{"kernel", "install", "--prefix", dir, "extra"},
		{"kernel"},
	} {
		errb.Reset()
		if code := program.Run(append([]string{"pxsh"}, args...), nil, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
	errb.Reset()
	if code := program.Run([]string{"pxsh", "kernel", "-f", filepath.Join(dir, "missing.json")}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "read connection file") {
		t.Errorf("missing connection file: exit %d: %s", code, errb.String())
	}
}

// TestKernelInstallChecksAllow: a bad --allow is refused at install (it
// was written into the kernelspec and failed in every notebook).
func TestKernelInstallChecksAllow(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := program.Run([]string{"pxsh", "kernel", "install", "--prefix", dir, "--allow", "fs=rel"}, nil, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "not an absolute path") {
		t.Fatalf("exit %d, stderr %q; want 2 and the reason", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "share", "jupyter", "kernels", "pxsh")); err == nil {
		t.Error("a kernelspec was installed")
	}
}
