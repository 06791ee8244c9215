package profile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEnsureTightensLooseDirectories(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profile_x")
	if err := os.MkdirAll(SecurityDir(dir), 0o777); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, SecurityDir(dir)} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, SecurityDir(dir)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Errorf("%s: mode %o, want 700", d, perm)
		}
	}
}

func TestEnsureCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "profile_y")
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(SecurityDir(dir))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("security dir: %v, %v", fi, err)
	}
}

func TestEnsureLeavesStickyDirectories(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("sticky directory changed: %v, %v", fi.Mode(), err)
	}
}
