package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on Linux).
const clockTick = 10 * time.Millisecond

// clusterCPU returns the CPU time (user and system) used so far by this
// process and its child processes still running (the controller and the
// engines), from /proc; 0 where /proc is missing. On a loaded machine the
// CPU a metric costs is steadier than its wall-clock time.
func clusterCPU() time.Duration {
	var total time.Duration
	for _, d := range cpuByRole() {
		total += d
	}
	return total
}

// cpuByRole is clusterCPU by role: "client" (this process), and the
// children's subcommands ("controller", "engine").
func cpuByRole() map[string]time.Duration {
	by := map[string]time.Duration{"client": procCPU("self")}
	self := strconv.Itoa(os.Getpid())
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		f := statFields(d)
		if len(f) > 1 && f[1] == self {
			role := "other"
			if args, err := os.ReadFile(filepath.Join(d, "cmdline")); err == nil {
				if a := strings.Split(string(args), "\x00"); len(a) > 1 {
					role = a[1]
				}
			}
			by[role] += procCPU(filepath.Base(d))
		}
	}
	return by
}

// faultsByRole is like cpuByRole for minor page faults (fresh memory
// touched): the client, the controller and the engines.
func faultsByRole() map[string]int64 {
	by := map[string]int64{"client": procFaults("self")}
	self := strconv.Itoa(os.Getpid())
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if f := statFields(d); len(f) > 1 && f[1] == self {
			if args, err := os.ReadFile(filepath.Join(d, "cmdline")); err == nil {
				if a := strings.Split(string(args), "\x00"); len(a) > 1 {
					by[a[1]] += procFaults(filepath.Base(d))
				}
			}
		}
	}
	return by
}

// procFaults is a process's count of minor page faults.
func procFaults(pid string) int64 {
	f := statFields(filepath.Join("/proc", pid))
	if len(f) < 8 {
		return 0
	}
	n, _ := strconv.ParseInt(f[7], 10, 64)
	return n
}

// faultSplit formats the minor faults per run of each role.
func faultSplit(before, after map[string]int64, runs int) string {
	var parts []string
	for _, role := range []string{"client", "controller", "engine"} {
		parts = append(parts, fmt.Sprintf("%s %d", role, (after[role]-before[role])/int64(runs)))
	}
	return strings.Join(parts, ", ")
}

// cpuSplit formats the CPU per run each role used between two
// cpuByRole readings.
func cpuSplit(before, after map[string]time.Duration, runs int) string {
	var parts []string
	for _, role := range []string{"client", "controller", "engine"} {
		parts = append(parts, fmt.Sprintf("%s %.1f", role, ms((after[role]-before[role])/time.Duration(runs))))
	}
	return strings.Join(parts, ", ")
}

// statFields returns the fields of /proc/<pid>/stat after the command
// name (the state is field 0, the parent's pid field 1).
func statFields(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// procCPU is a process's utime plus stime.
func procCPU(pid string) time.Duration {
	f := statFields(filepath.Join("/proc", pid))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * clockTick
}

// cpuMark is the CPU time used so far by this process (the controller
// and the client of the benchmarks) and by its child processes (the
// engines), read from /proc; ok is false where there is none.
type cpuMark struct {
	self, children time.Duration
	ok             bool
}

func markCPU() cpuMark {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return cpuMark{}
	}
	m := cpuMark{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	for role, d := range cpuByRole() {
		if role != "client" {
			m.children += d
			m.ok = true
		}
	}
	return m
}

// reportCPU reports the CPU time per operation since m for the test
// process and the engines: on a shared, loaded machine a steadier figure
// than wall-clock time.
func reportCPU(b *testing.B, m cpuMark, ops int) {
	now := markCPU()
	if !m.ok || !now.ok || ops == 0 {
		return
	}
	b.ReportMetric(us((now.self-m.self)/time.Duration(ops)), "hub+client-cpu-µs/op")
	b.ReportMetric(us((now.children-m.children)/time.Duration(ops)), "engine-cpu-µs/op")
}

// stealTime returns the time the machine's host has run something else
// while this machine's processors had work (the steal column of
// /proc/stat, all processors together); 0 where it is missing. A run
// whose steal grew has figures the machine itself slowed.
func stealTime() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	n, _ := strconv.ParseInt(f[8], 10, 64)
	return time.Duration(n) * clockTick
}
