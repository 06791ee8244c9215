package profile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDashboardFileAndToken(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadDashboard(dir); !errors.Is(err, ErrNoDashboard) {
		t.Fatalf("no file: %v, want ErrNoDashboard", err)
	}
	tok, err := DashboardToken(dir)
	if err != nil || len(tok) < 32 {
		t.Fatalf("token %q: %v", tok, err)
	}
	again, _ := DashboardToken(dir)
	if again != tok {
		t.Errorf("token not kept: %q then %q", tok, again)
	}
	st, err := os.Stat(filepath.Join(SecurityDir(dir), "dashboard_token"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v", st, err)
	}
	d := &Dashboard{URL: "http://127.0.0.1:1/?token=" + tok, Addr: "127.0.0.1:1", Token: tok, PID: 7}
	if err := WriteDashboard(dir, d); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDashboard(dir)
	if err != nil || *got != *d {
		t.Fatalf("read back %+v, %v", got, err)
	}
	RemoveDashboard(dir, 8) // another controller's: kept
	if _, err := ReadDashboard(dir); err != nil {
		t.Errorf("removed by another pid: %v", err)
	}
	RemoveDashboard(dir, 7)
	if _, err := ReadDashboard(dir); !errors.Is(err, ErrNoDashboard) {
		t.Errorf("after remove: %v", err)
	}
	if fresh, _ := DashboardToken(""); fresh == "" || fresh == tok {
		t.Errorf("token without a profile: %q", fresh)
	}
}
