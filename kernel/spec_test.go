package kernel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"go.starlark.net/starlark"
)

func TestInstall(t *testing.T) {
	dir := t.TempDir()
	got, err := Install(dir, "pxsh-x", NewSpec("/bin/pxsh", "pxsh (x)", "--profile", "x"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(got, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	want := []string{"/bin/pxsh", "kernel", "-f", "{connection_file}", "--profile", "x"}
	if len(spec.Argv) != len(want) || spec.Argv[3] != want[3] || spec.Argv[5] != "x" || spec.Language != "starlark" {
		t.Fatalf("spec %+v", spec)
	}
	for _, name := range []string{"", "a/b", ".."} {
		if _, err := Install(dir, name, spec); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func TestDataDir(t *testing.T) {
	env := map[string]string{"HOME": "/home/u"}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		user   bool
		prefix string
		want   string
	}{{false, "", "/usr/local/share/jupyter"}, {true, "", "/home/u/.local/share/jupyter"}, {true, "/opt/p", "/opt/p/share/jupyter"}} {
		if got, _ := DataDir(c.user, c.prefix, getenv); got != c.want {
			t.Errorf("DataDir(%v, %q) = %s, want %s", c.user, c.prefix, got, c.want)
		}
	}
	env["JUPYTER_DATA_DIR"] = "/j"
	if got, _ := DataDir(true, "", getenv); got != "/j" {
		t.Errorf("JUPYTER_DATA_DIR ignored: %s", got)
	}
}

func TestMimeBundle(t *testing.T) {
	b := mimeBundle(&Image{Format: "png", Data: []byte{0x89, 'P', 'N', 'G'}})
	if b["image/png"] != "iVBORw==" || b["text/plain"] != "<Image png, 4 bytes>" {
		t.Fatalf("png bundle %v", b)
	}
	b = mimeBundle(&Image{Format: "svg", Data: []byte("<svg/>")})
	if b["image/svg+xml"] != "<svg/>" {
		t.Fatalf("svg bundle %v", b)
	}
	if b = mimeBundle(starlark.MakeInt(3)); len(b) != 1 || b["text/plain"] != "3" {
		t.Fatalf("int bundle %v", b)
	}
}
