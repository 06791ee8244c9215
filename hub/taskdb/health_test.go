package taskdb

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/internal/waittest"
)

// syncLog is a log sink safe for concurrent use.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitHealthy waits (bounded) until Flush succeeds again.
func waitHealthy(t *testing.T, db *DB) {
	t.Helper()
	var err error
	waittest.Until(t, 20*time.Second, func() bool { err = db.Flush(ctxT(t)); return err == nil },
		func() string { return fmt.Sprintf("the database to recover: %v", err) })
}

// checkAll checks that records 0..n-1 are all stored.
func checkAll(t *testing.T, db *DB, n int) {
	t.Helper()
	var want []string
	for i := range n {
		want = append(want, rec(i).MsgID)
	}
	got, err := db.Get(ctxT(t), want)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r == nil {
			t.Fatalf("record %s lost", want[i])
		}
	}
}

func TestWriteFailureHeldAndRecovered(t *testing.T) {
	var failing atomic.Bool
	log := &syncLog{}
	db := openT(t, Config{Path: filepath.Join(t.TempDir(), "tasks.db"), Logger: slog.New(slog.NewTextHandler(log, nil)),
		FailWrites: func() error {
			if failing.Load() {
				return errors.New("injected: no space left on device")
			}
			return nil
		}})
	for i := range 10 {
		db.Submitted(rec(i))
	}
	if err := db.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	for i := 10; i < 20; i++ {
		db.Submitted(rec(i))
		db.Finished(finished(rec(i-10), i-10))
	}
	err := db.Flush(ctxT(t))
	if !errors.Is(err, ErrFailing) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("flush while failing: %v", err)
	}
	if _, err := db.Get(ctxT(t), []string{"m0001"}); !errors.Is(err, ErrFailing) {
		t.Errorf("get while failing: %v", err)
	}
	if _, err := db.Query(ctxT(t), nil, nil); !errors.Is(err, ErrFailing) {
		t.Errorf("query while failing: %v", err)
	}
	if err := db.Purge(ctxT(t), nil); !errors.Is(err, ErrFailing) {
		t.Errorf("purge while failing: %v", err)
	}
	if !strings.Contains(log.String(), "TASK DATABASE WRITES FAILING") {
		t.Errorf("failure not logged:\n%s", log.String())
	}
	failing.Store(false)
	waitHealthy(t, db)
	checkAll(t, db, 20)
	got, _ := db.Get(ctxT(t), []string{"m0003"})
	if got[0].Status != StatusOK {
		t.Errorf("held outcome not written: %+v", got[0])
	}
	if !strings.Contains(log.String(), "recovered") {
		t.Errorf("recovery not logged:\n%s", log.String())
	}
}

// TestDiskFull fills a small tmpfs under the database (root only), then
// frees it: writes are held, reads report the failure, and everything is
// written once space returns.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	db, err := Open(Config{Path: filepath.Join(dir, "tasks.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	big := func(i int) *Record {
		r := rec(i)
		r.Request = bytes.Repeat([]byte{byte(i)}, 64<<10)
		return r
	}
	db.Submitted(big(0))
	if err := db.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for range 64 { // at most 4 MiB: more than the file system holds
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	for i := 1; i < 8; i++ {
		db.Submitted(big(i))
	}
	err = db.Flush(ctxT(t))
	if !errors.Is(err, ErrFailing) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("flush on a full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, db)
	checkAll(t, db, 8)
	if err := db.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}
