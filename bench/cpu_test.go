package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
	lists, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range lists {
		b, _ := os.ReadFile(f)
		for _, pid := range strings.Fields(string(b)) {
			st, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil {
				continue
			}
			s := string(st)
			fs := strings.Fields(s[strings.LastIndex(s, ")")+2:])
			if len(fs) < 13 {
				continue
			}
			u, _ := strconv.Atoi(fs[11]) // utime, in clock ticks
			k, _ := strconv.Atoi(fs[12]) // stime
			m.children += time.Duration(u+k) * 10 * time.Millisecond
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
