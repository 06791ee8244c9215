// Package profile owns pxsh's on-disk layout: profile directories under
// $PXSH_DIR (default ~/.pxsh), their security directory and the JSON
// connection files that join clients and engines to a controller.
//
// It imports only the standard library and the protocol package.
package profile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pxsh/pxsh/protocol"
)

// File names inside a profile directory.
const (
	ConfigFile       = "pxsh_config.star" // the profile's Starlark config
	ClusterStateFile = "cluster.json"     // processes and jobs a cluster started
	SecurityDirName  = "security"
	EngineFile       = "pxsh-engine.json" // connection file for engines
	ClientFile       = "pxsh-client.json" // connection file for clients
	DatabaseFile     = "tasks.db"
)

// ErrNoConnectionFile means no controller has written a connection file.
var ErrNoConnectionFile = errors.New("no connection file")

// Root returns the directory holding every profile: $PXSH_DIR if set,
// else ~/.pxsh. getenv is os.Getenv in programs; tests pass their own.
func Root(getenv func(string) string) string {
	if d := getenv("PXSH_DIR"); d != "" {
		return d
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".pxsh")
	}
	return ".pxsh"
}

// Dir returns the directory of the named profile under root.
func Dir(root, name string) string {
	if name == "" {
		name = "default"
	}
	return filepath.Join(root, "profile_"+name)
}

// SecurityDir returns a profile's security directory.
func SecurityDir(dir string) string { return filepath.Join(dir, SecurityDirName) }

// ConnectionPath returns the path of a profile's engine or client
// connection file.
func ConnectionPath(dir string, engine bool) string {
	if engine {
		return filepath.Join(SecurityDir(dir), EngineFile)
	}
	return filepath.Join(SecurityDir(dir), ClientFile)
}

// Connection is the content of a connection file.
type Connection struct {
	// Addresses are the controller's UDP addresses, "host:port", dialled
	// at once; the first to answer is used.
	Addresses []string `json:"addresses"`
	// Fingerprint pins the controller's certificate: "sha256:<hex>".
	Fingerprint string `json:"fingerprint"`
	// Key is the 256-bit cluster key, hex-encoded.
	Key       string `json:"key"`
	ClusterID string `json:"cluster_id"`
	Version   int    `json:"version"`
	// Profile is the profile directory the controller runs in.
	Profile string `json:"profile,omitempty"`
	// PID is the controller's process id, when it runs on this host.
	PID int `json:"pid,omitempty"`
}

// KeyBytes decodes Key.
func (c *Connection) KeyBytes() ([]byte, error) {
	var b []byte
	_, err := fmt.Sscanf(c.Key, "%x", &b)
	if err != nil || len(b) < 16 {
		return nil, fmt.Errorf("connection file: bad cluster key")
	}
	return b, nil
}

// Read reads and checks a connection file.
func Read(path string) (*Connection, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read connection file %s: %w", path, ErrNoConnectionFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read connection file: %w", err)
	}
	var c Connection
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("read connection file %s: %w", path, err)
	}
	switch {
	case len(c.Addresses) == 0:
		return nil, fmt.Errorf("read connection file %s: no controller address", path)
	case !strings.HasPrefix(c.Fingerprint, "sha256:"):
		return nil, fmt.Errorf("read connection file %s: no certificate fingerprint", path)
	case c.Version != protocol.Version:
		return nil, fmt.Errorf("read connection file %s: protocol version %d, want %d", path, c.Version, protocol.Version)
	}
	if _, err := c.KeyBytes(); err != nil {
		return nil, fmt.Errorf("read connection file %s: %w", path, err)
	}
	return &c, nil
}

// Ensure creates a profile directory and its security directory with
// mode 0700, and tightens them to 0700 when they exist with group or
// other permissions: they hold the cluster key and the task database.
func Ensure(dir string) error {
	for _, d := range []string{dir, SecurityDir(dir)} {
		if err := private(d); err != nil {
			return fmt.Errorf("profile directory: %w", err)
		}
	}
	return nil
}

// private creates dir (0700) or removes group and other permissions from
// an existing one of ours. A shared directory (sticky, like /tmp, or
// another user's) given as a profile directory is left alone.
func private(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSticky != 0 {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return os.Chmod(dir, perm&0o700)
	}
	return nil
}

// Write writes a connection file atomically with mode 0600, creating its
// directory (0700, tightened when it exists with looser permissions).
func Write(path string, c *Connection) error {
	if err := private(filepath.Dir(path)); err != nil {
		return fmt.Errorf("write connection file: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("write connection file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".conn-*")
	if err != nil {
		return fmt.Errorf("write connection file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write connection file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write connection file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write connection file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write connection file: %w", err)
	}
	return nil
}
