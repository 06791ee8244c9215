package profile

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DashboardFile, in a profile's security directory, says where the
// controller serves its dashboard (mode 0600: it holds the token).
const DashboardFile = "dashboard.json"

// ErrNoDashboard means no controller of the profile serves a dashboard.
var ErrNoDashboard = errors.New("no dashboard")

// Dashboard is what DashboardFile holds.
type Dashboard struct {
	// URL is the page's address with its token, ready to open.
	URL string `json:"url"`
	// Addr is the HTTP listening address, host:port.
	Addr string `json:"addr"`
	// Token authenticates requests (as ?token=, a cookie or a bearer).
	Token string `json:"token"`
	// PID is the controller's process id.
	PID int `json:"pid"`
}

// DashboardPath returns the dashboard file of a profile directory.
func DashboardPath(dir string) string { return filepath.Join(SecurityDir(dir), DashboardFile) }

// ReadDashboard reads a profile's dashboard file.
func ReadDashboard(dir string) (*Dashboard, error) {
	b, err := os.ReadFile(DashboardPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read dashboard file: %w", ErrNoDashboard)
	}
	if err != nil {
		return nil, fmt.Errorf("read dashboard file: %w", err)
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("read dashboard file %s: %w", DashboardPath(dir), err)
	}
	if d.URL == "" || d.Token == "" {
		return nil, fmt.Errorf("read dashboard file %s: no url or token", DashboardPath(dir))
	}
	return &d, nil
}

// WriteDashboard writes a profile's dashboard file (0600).
func WriteDashboard(dir string, d *Dashboard) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("write dashboard file: %w", err)
	}
	return writePrivate(DashboardPath(dir), append(b, '\n'))
}

// RemoveDashboard removes a profile's dashboard file if it names pid.
func RemoveDashboard(dir string, pid int) {
	if d, err := ReadDashboard(dir); err == nil && d.PID == pid {
		os.Remove(DashboardPath(dir))
	}
}

// DashboardToken returns the profile's dashboard token, making and
// keeping one (security/dashboard_token, 0600) the first time; with dir
// "" it returns a fresh token.
func DashboardToken(dir string) (string, error) {
	path := filepath.Join(SecurityDir(dir), "dashboard_token")
	if dir != "" {
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
			return strings.TrimSpace(string(b)), nil
		}
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("dashboard token: %w", err)
	}
	tok := hex.EncodeToString(raw)
	if dir != "" {
		if err := writePrivate(path, []byte(tok+"\n")); err != nil {
			return "", fmt.Errorf("dashboard token: %w", err)
		}
	}
	return tok, nil
}

// writePrivate writes a file atomically with mode 0600.
func writePrivate(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
