package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stallHelper is the environment variable that makes the test binary one
// of BenchmarkPlatformStall's helper processes instead of running tests.
const stallHelper = "PXSH_BENCH_STALL_HELPER"

func init() {
	switch os.Getenv(stallHelper) {
	case "echo":
		echoBytes(os.Stdin, os.Stdout)
		os.Exit(0)
	case "fresh":
		if err := writeFreshMemory(2, 1<<30); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// echoBytes writes back each byte it reads until its input ends.
func echoBytes(r io.Reader, w io.Writer) {
	b := make([]byte, 1)
	for {
		if _, err := r.Read(b); err != nil {
			return
		}
		if _, err := w.Write(b); err != nil {
			return
		}
	}
}

// writeFreshMemory writes size bytes into a new memfd and closes it,
// rounds times: fresh pages allocated, zeroed, written and freed, as a
// large value's memfd is.
func writeFreshMemory(rounds int, size int) error {
	piece := make([]byte, 8<<20)
	for range rounds {
		fd, err := unix.MemfdCreate("stall", unix.MFD_CLOEXEC)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), "memfd")
		for off := 0; off < size; off += len(piece) {
			if _, err := f.WriteAt(piece, int64(off)); err != nil {
				f.Close()
				return err
			}
		}
		f.Close()
	}
	return nil
}

// BenchmarkPlatformStall measures how long this machine itself stalls a
// chain of processes, with no pxsh process: this process and an echo
// process pass one byte back and forth through pipes for 2 s while
// nothing else runs, then while a third process writes 1 GB of fresh
// memory into a memfd and frees it, twice (as a 1 GB push makes its
// sender and receiver do). It reports each phase's median and longest
// round trip. A control-latency goal during a bulk transfer
// (BenchmarkValue1GB: an apply within 10 ms) cannot be judged on a
// machine whose longest round trip here exceeds it (docs/PERFORMANCE.md).
func BenchmarkPlatformStall(b *testing.B) {
	echo := exec.Command(os.Args[0])
	echo.Env = append(os.Environ(), stallHelper+"=echo")
	w, err := echo.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	r, err := echo.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := echo.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { w.Close(); echo.Wait() }()
	roundTrips := func(until func() bool) []time.Duration {
		var lat []time.Duration
		p := []byte{1}
		for deadline := time.Now().Add(time.Minute); !until() && time.Now().Before(deadline); {
			t0 := time.Now()
			if _, err := w.Write(p); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(r, p); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return lat
	}
	end := time.Now().Add(2 * time.Second)
	idle := roundTrips(func() bool { return time.Now().After(end) })

	fresh := exec.Command(os.Args[0])
	fresh.Env = append(os.Environ(), stallHelper+"=fresh")
	fresh.Stderr = os.Stderr
	if err := fresh.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- fresh.Wait() }()
	var werr error
	busy := roundTrips(func() bool {
		select {
		case werr = <-exited:
			return true
		default:
			return false
		}
	})
	if werr != nil {
		b.Fatalf("the fresh-memory writer: %v", werr)
	}
	for _, phase := range []struct {
		name string
		lat  []time.Duration
	}{{"idle", idle}, {"fresh-memory", busy}} {
		if len(phase.lat) == 0 {
			b.Fatalf("%s: no round trip", phase.name)
		}
		b.ReportMetric(float64(median(phase.lat).Microseconds()), phase.name+"-median-us")
		b.ReportMetric(ms(phase.lat[len(phase.lat)-1]), phase.name+"-max-ms")
		b.Logf("%s: %d round trips, median %v, p99.9 %v, max %v", phase.name, len(phase.lat),
			median(phase.lat), phase.lat[len(phase.lat)*999/1000], phase.lat[len(phase.lat)-1])
	}
}
