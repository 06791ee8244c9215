package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfigFile(t *testing.T) {
	src := `
engines = "ssh"
n = 2 * 3
_base = ["node1:2"]
hosts = _base + ["node2"]
ssh_options = ["-o", "BatchMode=yes"]
ship_binary = True
local_only = False
mpi_args = ["--bind-to", "none"]
scheme = "lru"
hwm = 0
queue = "debug"
`
	var cfg Config
	fs, err := parseConfig("pxsh_config.star", []byte(src), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Engines: "ssh", N: 6, SSH: SSHConfig{Hosts: []HostSpec{{"node1", 2}, {"node2", 0}},
		Options: []string{"-o", "BatchMode=yes"}, ShipBinary: true}, MPI: MPIConfig{Args: []string{"--bind-to", "none"}},
		Batch: BatchConfig{Queue: "debug"}}
	if diff := cmp.Diff(want, cfg, cmp.AllowUnexported(Config{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if fs.Scheme != "lru" || fs.HWM != 0 {
		t.Errorf("scheme %q hwm %d", fs.Scheme, fs.HWM)
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`engines = 3`, `engines: got int, want string`},
		{`n = "4"`, `n: got string, want int`},
		{`nn = 4`, `unknown setting "nn"`},
		{`hosts = ["a:x"]`, `bad count`},
		{"n = 4\nengines = (", `pxsh_config.star:2:`},
		{`ship_binary = 1`, `got int, want bool`},
	}
	for _, tt := range tests {
		var cfg Config
		_, err := parseConfig("pxsh_config.star", []byte(tt.src), &cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want error containing %q", tt.src, err, tt.want)
		}
	}
}

// TestDefaultConfigFile checks that the commented defaults parse, both
// as written and uncommented, and leave the config at its defaults.
func TestDefaultConfigFile(t *testing.T) {
	text := DefaultConfigFile("test")
	var cfg Config
	fs, err := parseConfig("c.star", []byte(text), &cfg)
	if err != nil || len(fs.Set) != 0 {
		t.Fatalf("commented file: %v, set %v", err, fs)
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		for _, s := range configSettings {
			if strings.HasPrefix(l, "# "+s.name+" = ") {
				lines = append(lines, strings.TrimPrefix(l, "# "))
			}
		}
	}
	uncommented := strings.Join(lines, "\n")
	fs, err = parseConfig("c.star", []byte(uncommented), &cfg)
	if err != nil {
		t.Fatalf("uncommented file: %v\n%s", err, uncommented)
	}
	if len(fs.Set) != len(configSettings) {
		t.Errorf("uncommented file set %d settings, want %d", len(fs.Set), len(configSettings))
	}
	if cfg.Engines != "local" || cfg.N != 4 || fs.Scheme != "leastload" || fs.HWM != 1 {
		t.Errorf("defaults: %+v %+v", cfg, fs)
	}
}

func TestLoadConfigFileMissing(t *testing.T) {
	var cfg Config
	if _, err := LoadConfigFile(filepath.Join(t.TempDir(), "none.star"), &cfg); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "c.star")
	os.WriteFile(p, []byte(`n = 7`), 0o600)
	if _, err := LoadConfigFile(p, &cfg); err != nil || cfg.N != 7 {
		t.Fatalf("n = %d, %v", cfg.N, err)
	}
}
