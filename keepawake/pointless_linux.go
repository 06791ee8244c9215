package keepawake

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Pointless says why a spinner would not help this process, or "": with
// one usable processor there is no other to keep awake, and under a
// cgroup CPU quota (a container's CPU limit) the spinning would spend
// the quota and get the process throttled.
func Pointless() string {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() < 2 {
		return "one usable processor"
	}
	if q := cpuQuota("/"); q != "" {
		return "a CPU quota (" + q + ")"
	}
	return ""
}

// cpuQuota returns the CPU quota of this process's cgroup or an ancestor
// under the file system root, or "" (none, or unknown), for cgroup v2
// (cpu.max) and v1 (cpu.cfs_quota_us).
func cpuQuota(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			if q := quotaUp(filepath.Join(root, "sys/fs/cgroup"), f[2], "cpu.max", "max"); q != "" {
				return q
			}
		case slices.Contains(strings.Split(f[1], ","), "cpu"):
			for _, mount := range []string{"cpu", "cpu,cpuacct", "cpuacct,cpu"} {
				if q := quotaUp(filepath.Join(root, "sys/fs/cgroup", mount), f[2], "cpu.cfs_quota_us", "-1"); q != "" {
					return q
				}
			}
		}
	}
	return ""
}

// quotaUp reads file in the cgroup dir/cg and its ancestors; the first
// whose first field is not none is the quota.
func quotaUp(dir, cg, file, none string) string {
	for cg = path.Clean("/" + cg); ; cg = path.Dir(cg) {
		if b, err := os.ReadFile(filepath.Join(dir, cg, file)); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 && f[0] != none {
				return fmt.Sprintf("%s %s", file, strings.Join(f, " "))
			}
		}
		if cg == "/" {
			return ""
		}
	}
}
