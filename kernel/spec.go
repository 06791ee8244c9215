package kernel

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Spec is a Jupyter kernelspec (kernel.json).
type Spec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      map[string]any    `json:"metadata,omitempty"`
}

// NewSpec returns the kernelspec that starts binary as a kernel with
// extra arguments (e.g. --profile NAME or -n 4).
func NewSpec(binary, displayName string, extra ...string) Spec {
	argv := append([]string{binary, "kernel", "-f", "{connection_file}"}, extra...)
	return Spec{Argv: argv, DisplayName: displayName, Language: "starlark", InterruptMode: "message"}
}

// DataDir returns Jupyter's data directory: under prefix when it is set,
// else the user's ($JUPYTER_DATA_DIR, $XDG_DATA_HOME/jupyter or
// ~/.local/share/jupyter) when user is set, else the system-wide one
// (/usr/local/share/jupyter), as `jupyter kernelspec install` chooses.
func DataDir(user bool, prefix string, getenv func(string) string) (string, error) {
	switch {
	case prefix != "":
		return filepath.Join(prefix, "share", "jupyter"), nil
	case !user:
		return "/usr/local/share/jupyter", nil
	case getenv("JUPYTER_DATA_DIR") != "":
		return getenv("JUPYTER_DATA_DIR"), nil
	case getenv("XDG_DATA_HOME") != "":
		return filepath.Join(getenv("XDG_DATA_HOME"), "jupyter"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", fmt.Errorf("kernel install: no HOME for the user's Jupyter directory")
	}
	return filepath.Join(home, ".local", "share", "jupyter"), nil
}

// Install writes spec as dataDir/kernels/NAME/kernel.json (replacing an
// earlier one) and returns the kernelspec's directory.
func Install(dataDir, name string, spec Spec) (string, error) {
	if name == "" || filepath.Base(name) != name || name == "." || name == ".." {
		return "", fmt.Errorf("kernel install: invalid kernel name %q", name)
	}
	dir := filepath.Join(dataDir, "kernels", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kernel install: %w", err)
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("kernel install: %w", err)
	}
	tmp := filepath.Join(dir, ".kernel.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("kernel install: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "kernel.json")); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("kernel install: %w", err)
	}
	return dir, nil
}
