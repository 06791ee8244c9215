//go:build linux

package quic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The local channel's peers must run as the same user: a listener refuses
// a dialer of another user before reading its hello, and a dialer refuses
// a listener of another user before writing one. The other user is a
// process of this test binary run as nobody (only root can start it).
func TestBulkLocalRefusesOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a peer as another user")
	}
	bin := copyTestBinary(t)
	key := testKey(t)
	srv := startServer(t, Config{Key: key})
	_, port, _ := net.SplitHostPort(srv.addr())

	t.Run("dialer of another user", func(t *testing.T) {
		out := runAsNobody(t, bin, "dial", localAddr(srv.id.Fingerprint, port))
		if out != "closed" {
			t.Fatalf("listener answered a dialer of another user: %s", out)
		}
	})
	t.Run("listener of another user", func(t *testing.T) {
		name := fmt.Sprintf("@pxsh-test-%d", os.Getpid())
		cmd := exec.Command(bin, "-test.run=^TestLocalPeerHelper$")
		cmd.Env = append(os.Environ(), "PXSH_TEST_LOCAL_PEER=listen", "PXSH_TEST_LOCAL_ADDR="+name)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		ready := make([]byte, 6)
		if _, err := io.ReadFull(stdout, ready); err != nil || string(ready) != "ready\n" {
			t.Fatalf("helper: %q, %v", ready, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		nc, err := dialUnix(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		err = handshakeLocal(ctx, nc, make([]byte, 32), key, chanBulk)
		if err == nil || !strings.Contains(err.Error(), "peer credentials") {
			t.Fatalf("dialer accepted a listener of another user: %v", err)
		}
	})
}

// TestLocalPeerHelper is the other user's process of
// TestBulkLocalRefusesOtherUser; it does nothing in a normal run.
func TestLocalPeerHelper(t *testing.T) {
	addr := os.Getenv("PXSH_TEST_LOCAL_ADDR")
	switch os.Getenv("PXSH_TEST_LOCAL_PEER") {
	case "dial":
		nc, err := net.Dial("unix", addr)
		if err != nil {
			fmt.Println("dial:", err)
			return
		}
		nc.SetDeadline(time.Now().Add(waitLimit))
		nc.Write(append([]byte(localHello), make([]byte, 32)...))
		_, err = io.ReadFull(nc, make([]byte, nonceLen))
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			fmt.Print("closed")
			return
		}
		fmt.Print("answered: ", err)
	case "listen":
		l, err := net.Listen("unix", addr)
		if err != nil {
			fmt.Println("listen:", err)
			return
		}
		fmt.Println("ready")
		nc, err := l.Accept()
		if err == nil {
			io.Copy(io.Discard, nc) // until the dialer hangs up
		}
	}
}

// copyTestBinary copies the test binary where another user can run it.
func copyTestBinary(t *testing.T) string {
	dir, err := os.MkdirTemp("", "pxsh-quic-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "quic.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// runAsNobody runs the helper in mode as user nobody and returns what it
// printed.
func runAsNobody(t *testing.T, bin, mode, addr string) string {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestLocalPeerHelper$")
	cmd.Env = append(os.Environ(), "PXSH_TEST_LOCAL_PEER="+mode, "PXSH_TEST_LOCAL_ADDR="+addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	s := string(out)
	if i := strings.Index(s, "PASS"); i >= 0 {
		s = s[:i]
	}
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	return strings.TrimSpace(s)
}
