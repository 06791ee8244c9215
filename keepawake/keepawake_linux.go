//go:build linux

package keepawake

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Waker pokes a spinner child process; the zero of *Waker (nil) pokes
// nothing.
type Waker struct {
	words *[pageSize / 4]uint32
	mem   []byte
	cmd   *exec.Cmd
	stdin io.Closer
	once  sync.Once
}

// Start starts the spinner as `bin args...`, a process that calls Spin.
func Start(bin string, args ...string) (*Waker, error) {
	fd, err := unix.MemfdCreate("pxsh-keepawake", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("keepawake: memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "pxsh-keepawake")
	defer f.Close()
	if err := f.Truncate(pageSize); err != nil {
		return nil, fmt.Errorf("keepawake: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("keepawake: map: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.ExtraFiles = []*os.File{f} // fd 3
	stdin, err := cmd.StdinPipe()  // the child ends when it closes
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("keepawake: start %s: %w", bin, err)
	}
	return &Waker{words: (*[pageSize / 4]uint32)(unsafe.Pointer(&mem[0])), mem: mem, cmd: cmd, stdin: stdin}, nil
}

// Poke says a request is in flight: the spinner spins for Linger more.
// It costs an atomic add, and a futex wake after the spinner slept.
func (w *Waker) Poke() {
	if w == nil {
		return
	}
	atomic.AddUint32(&w.words[wordPokes], 1)
	if atomic.LoadUint32(&w.words[wordAsleep]) == 1 && atomic.CompareAndSwapUint32(&w.words[wordAsleep], 1, 0) {
		atomic.AddUint32(&w.words[wordSeq], 1)
		futex(&w.words[wordSeq], futexWake, 1, nil)
	}
}

// Close stops the spinner and waits for it to exit.
func (w *Waker) Close() error {
	if w == nil {
		return nil
	}
	var err error
	w.once.Do(func() {
		w.stdin.Close()
		err = w.cmd.Wait()
		unix.Munmap(w.mem)
	})
	return err
}

// Spin is the spinner process's work: page is the shared page passed by
// Start (fd 3), and it returns when stdin reaches its end (the Waker
// closed it, or its process died).
func Spin(page *os.File, stdin io.Reader) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(page.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != pageSize {
		return errors.New("keepawake: no shared page on descriptor 3: the spinner is started by a controller, not by hand")
	}
	mem, err := unix.Mmap(int(page.Fd()), 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("keepawake: map: %w", err)
	}
	words := (*[pageSize / 4]uint32)(unsafe.Pointer(&mem[0]))
	var stop atomic.Bool
	go func() {
		io.Copy(io.Discard, stdin)
		stop.Store(true)
		atomic.AddUint32(&words[wordSeq], 1)
		futex(&words[wordSeq], futexWake, 1, nil)
	}()
	runtime.LockOSThread() // the policy is this thread's
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("keepawake: SCHED_IDLE: %w", err)
	}
	spin(words, &stop)
	return nil
}

// spin spins while pokes come, sleeping after Linger without one.
func spin(words *[pageSize / 4]uint32, stop *atomic.Bool) {
	last := atomic.LoadUint32(&words[wordPokes])
	since := time.Now()
	for !stop.Load() {
		for range 256 {
			if atomic.LoadUint32(&words[wordPokes]) != last {
				break
			}
		}
		if p := atomic.LoadUint32(&words[wordPokes]); p != last {
			last, since = p, time.Now()
			continue
		}
		if time.Since(since) < Linger {
			continue
		}
		seq := atomic.LoadUint32(&words[wordSeq])
		atomic.StoreUint32(&words[wordAsleep], 1)
		if atomic.LoadUint32(&words[wordPokes]) == last && !stop.Load() {
			ts := unix.NsecToTimespec(int64(time.Second))
			futex(&words[wordSeq], futexWait, seq, &ts)
		}
		atomic.StoreUint32(&words[wordAsleep], 0)
	}
}

// futex(2) operations on a word shared between processes (not private).
const (
	futexWait = 0
	futexWake = 1
)

// futex is futex(2) on a word shared between processes.
func futex(addr *uint32, op int, val uint32, ts *unix.Timespec) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), uintptr(op), uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
}
