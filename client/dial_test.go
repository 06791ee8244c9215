package client_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/profile"
)

// blackhole returns a UDP address that accepts packets and never answers,
// so a QUIC handshake to it waits for its timeout.
func blackhole(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// TestDialSkipsSilentAddress: an unreachable first address does not use
// the dial budget that the reachable second one needs.
func TestDialSkipsSilentAddress(t *testing.T) {
	cl := clustertest.Start(t, 0, clustertest.Options{})
	info, err := profile.Read(cl.ClientFile)
	if err != nil {
		t.Fatal(err)
	}
	info.Addresses = append([]string{blackhole(t)}, info.Addresses...)
	// The budget is shorter than the transport's handshake timeout, so a
	// dialler that waits for the first address fails.
	ctx := context.Background()
	c, err := client.DialConnection(ctx, info, client.Options{Timeout: 3 * time.Second * clustertest.Scale()})
	if err != nil {
		t.Fatalf("dial with a silent first address: %v", err)
	}
	c.Close()
}

// TestCloseWhileReconnecting: Close returns at once while the client is
// trying to reach a lost controller, not after the reconnect window.
func TestCloseWhileReconnecting(t *testing.T) {
	cl := clustertest.Start(t, 0, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second*clustertest.Scale())
	defer cancel()
	var logs clustertest.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	c, err := client.Dial(ctx, cl.ClientFile, client.Options{Reconnect: time.Hour, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	cl.Hub.Shutdown()
	clustertest.Eventually(t, 10*time.Second, "the client reconnecting", func() bool {
		return strings.Contains(logs.String(), "reconnecting")
	})
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second * clustertest.Scale()):
		t.Fatal("Close still blocked after 20 s with a reconnect window of an hour")
	}
}

// TestDialNoTimeout: a negative timeout means no bound (ipyparallel's
// Client(timeout=-1)), not an expired one.
func TestDialNoTimeout(t *testing.T) {
	cl := clustertest.Start(t, 0, clustertest.Options{})
	c, err := client.Dial(context.Background(), cl.ClientFile, client.Options{Timeout: -1})
	if err != nil {
		t.Fatalf("dial with Timeout -1: %v", err)
	}
	c.Close()
}
