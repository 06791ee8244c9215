package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ioMark counts the read and write system calls made so far by this
// process (controller and client) and by its child processes (engines),
// from /proc/<pid>/io.
type ioMark struct {
	self, children [2]int64 // reads, writes
}

func markIO() ioMark {
	m := ioMark{self: procIO("self")}
	self := strconv.Itoa(os.Getpid())
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if f := statFields(d); len(f) > 1 && f[1] == self {
			c := procIO(filepath.Base(d))
			m.children[0] += c[0]
			m.children[1] += c[1]
		}
	}
	return m
}

// procIO returns a process's syscr and syscw.
func procIO(pid string) [2]int64 {
	var n [2]int64
	b, err := os.ReadFile(filepath.Join("/proc", pid, "io"))
	if err != nil {
		return n
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "syscr":
			n[0], _ = strconv.ParseInt(v, 10, 64)
		case "syscw":
			n[1], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return n
}

// reportIO reports the read and write system calls per operation since m
// (those that carry frames, and the task database's file writes).
func reportIO(b *testing.B, m ioMark, ops int) {
	if ops == 0 {
		return
	}
	now := markIO()
	per := func(a, b int64) float64 { return float64(a-b) / float64(ops) }
	b.ReportMetric(per(now.self[0], m.self[0]), "hub+client-reads/op")
	b.ReportMetric(per(now.self[1], m.self[1]), "hub+client-writes/op")
	b.ReportMetric(per(now.children[0], m.children[0]), "engine-reads/op")
	b.ReportMetric(per(now.children[1], m.children[1]), "engine-writes/op")
}
