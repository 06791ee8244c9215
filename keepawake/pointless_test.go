//go:build linux

package keepawake

import (
	"os"
	"path/filepath"
	"testing"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A CPU quota on the process's cgroup or an ancestor is found, for
// cgroup v2 and v1; none, or none readable, is "".
func TestCPUQuota(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"v2 none", map[string]string{"proc/self/cgroup": "0::/a/b\n", "sys/fs/cgroup/a/b/cpu.max": "max 100000\n"}, ""},
		{"v2 own", map[string]string{"proc/self/cgroup": "0::/a/b\n", "sys/fs/cgroup/a/b/cpu.max": "50000 100000\n"}, "cpu.max 50000 100000"},
		{"v2 ancestor", map[string]string{"proc/self/cgroup": "0::/a/b\n", "sys/fs/cgroup/a/b/cpu.max": "max 100000\n", "sys/fs/cgroup/a/cpu.max": "200000 100000\n"}, "cpu.max 200000 100000"},
		{"v1 none", map[string]string{"proc/self/cgroup": "2:cpuacct:/\n1:cpu:/\n0::/\n", "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n"}, ""},
		{"v1 own", map[string]string{"proc/self/cgroup": "3:cpu,cpuacct:/job\n", "sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us": "100000\n"}, "cpu.cfs_quota_us 100000"},
		{"unreadable", map[string]string{}, ""},
	}
	for _, c := range cases {
		root := t.TempDir()
		writeFiles(t, root, c.files)
		if got := cpuQuota(root); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}
