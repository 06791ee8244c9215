package hostlib

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// fsFixture makes root (allowed) holding a.csv, sub/b.txt, a symlink to a
// file outside and a symlink to a directory outside, and outside holding
// secret.
func fsFixture(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "a.csv"), "x,y\n1,2\n")
	write(filepath.Join(root, "sub", "b.txt"), "b")
	write(filepath.Join(outside, "secret"), "secret")
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "evildir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/b.txt", filepath.Join(root, "good")); err != nil {
		t.Fatal(err)
	}
	return root, outside
}

func TestFS(t *testing.T) {
	root, _ := fsFixture(t)
	g := Grant{Roots: []string{root}}
	for _, c := range []struct{ expr, want string }{
		{`fs.read_text("ROOT/a.csv")`, "x,y\n1,2\n"},
		{`fs.read_bytes("ROOT/sub/b.txt")`, `b"b"`},
		{`fs.read_text("ROOT/good")`, "b"},
		{`fs.read_text("ROOT/sub/../a.csv").split("\n")[0]`, "x,y"},
		{`fs.list("ROOT")`, `["a.csv", "evil", "evildir", "good", "sub"]`},
		{`fs.glob("ROOT/*.csv") == ["ROOT/a.csv"]`, "True"},
		{`fs.glob("ROOT/s*/*.txt") == ["ROOT/sub/b.txt"]`, "True"},
		{`fs.stat("ROOT/a.csv").size`, "8"},
		{`fs.stat("ROOT/sub").is_dir`, "True"},
		{`fs.exists("ROOT/nope")`, "False"},
		{`fs.write_text("ROOT/new/c.txt", "c") if fs.mkdir("ROOT/new") == None else 0`, "None"},
		{`fs.write_text("ROOT/new/c.txt", "d", append=True) or fs.read_text("ROOT/new/c.txt")`, "cd"},
		{`fs.write_bytes("ROOT/bin", b"\x00") or fs.read_bytes("ROOT/bin")`, `b"\x00"`},
		{`fs.mkdir("ROOT/p/q/r", parents=True) or fs.mkdir("ROOT/p/q", exist_ok=True) or fs.stat("ROOT/p/q/r").is_dir`, "True"},
		{`fs.remove("ROOT/p", recursive=True) or fs.exists("ROOT/p")`, "False"},
		{`fs.remove("ROOT/bin") or fs.exists("ROOT/bin")`, "False"},
	} {
		expr := strings.ReplaceAll(c.expr, "ROOT", root)
		v := mustEval(t, g, expr)
		got := v.String()
		if s, ok := v.(starlark.String); ok {
			got = string(s)
		}
		if got != c.want {
			t.Errorf("%s = %q, want %q", c.expr, got, c.want)
		}
	}
}

// TestFSEscapes checks that neither absolute paths, ".." nor symlinks
// reach outside the allowed root, and that nothing outside changes.
func TestFSEscapes(t *testing.T) {
	root, outside := fsFixture(t)
	g := Grant{Roots: []string{root}}
	for _, c := range []struct{ expr, want string }{
		{`fs.read_text("OUT/secret")`, "outside the allowed roots"},
		{`fs.read_text("/etc/passwd")`, "outside the allowed roots"},
		{`fs.read_text("ROOT/../outside/secret")`, "outside the allowed roots"},
		{`fs.read_text("ROOT/sub/../../outside/secret")`, "outside the allowed roots"},
		{`fs.read_text("ROOT/evil")`, "escapes"},
		{`fs.read_text("ROOT/evildir/secret")`, "escapes"},
		{`fs.write_text("ROOT/evil", "pwned")`, "escapes"},
		{`fs.write_text("ROOT/evildir/new", "pwned")`, "escapes"},
		{`fs.list("ROOT/evildir")`, "escapes"},
		{`fs.glob("/*")`, "outside the allowed roots"},
		{`fs.mkdir("ROOT/evildir/d")`, "escapes"},
		{`fs.remove("ROOT/evildir/secret")`, "escapes"},
		{`fs.remove("ROOT", recursive=True)`, "is an allowed root"},
		{`fs.stat("ROOT/evil")`, "escapes"},
		{`fs.read_text("ROOTX/a")`, "outside the allowed roots"},
	} {
		expr := strings.NewReplacer("ROOT", root, "OUT", outside).Replace(c.expr)
		_, err := eval(t, t.Context(), g, expr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.expr, err, c.want)
		}
		if strings.Contains(c.want, "outside") {
			var pe *PermissionError
			if !errors.As(err, &pe) {
				t.Errorf("%s: %v is not a PermissionError", c.expr, err)
			}
		}
	}
	// glob skips what it may not read
	if v := mustEval(t, g, `fs.glob("`+root+`/evildir/*")`); v.String() != "[]" {
		t.Errorf("glob through a symlink out: %v", v)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != "secret" {
		t.Errorf("outside/secret = %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("outside has %d entries, want 1", len(ents))
	}
}

// TestFSRelative checks that relative paths resolve against the working
// directory and glob returns relative paths for relative patterns.
func TestFSRelative(t *testing.T) {
	root, _ := fsFixture(t)
	t.Chdir(root)
	g := Grant{Roots: []string{root}}
	if v := mustEval(t, g, `fs.glob("*.csv") == ["a.csv"] and fs.read_text("sub/b.txt") == "b"`); v != starlark.True {
		t.Errorf("got %v", v)
	}
	if _, err := eval(t, t.Context(), g, `fs.read_text("../outside/secret")`); err == nil {
		t.Error("../outside/secret: no error")
	}
	if v := mustEval(t, All, `fs.read_text("../outside/secret")`); v != starlark.String("secret") {
		t.Errorf("All: got %v", v)
	}
}
