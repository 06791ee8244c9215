package dashboard

import (
	"os"
	"testing"

	"github.com/pxsh/pxsh/hub"
)

// The memory of a process that runs many engines is read once per sample,
// and only for processes on the controller's host.
func TestResidentByPIDReadsEachProcessOnce(t *testing.T) {
	var engines []hub.EngineState
	for i := range 80 {
		engines = append(engines, hub.EngineState{ID: i, Host: "here", PID: 100 + i/40})
	}
	engines = append(engines, hub.EngineState{ID: 80, Host: "there", PID: 999})
	reads := map[int]int{}
	mem := residentByPID(engines, "here", func(pid int) int64 { reads[pid]++; return int64(pid) })
	if len(reads) != 2 || reads[100] != 1 || reads[101] != 1 {
		t.Fatalf("reads by pid: %v, want one each of 100 and 101", reads)
	}
	if len(mem) != 2 || mem[100] != 100 || mem[101] != 101 {
		t.Fatalf("memory by pid: %v", mem)
	}
	if got := residentBytes(os.Getpid()); got <= 0 {
		t.Fatalf("this process's resident bytes: %d", got)
	}
}
