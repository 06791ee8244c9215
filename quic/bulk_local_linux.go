package quic

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
)

func listenUnix(name string) (net.Listener, error) {
	return net.Listen("unix", name)
}

func dialUnix(ctx context.Context, name string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", name)
}

// samePeerUser checks that the process at the other end of nc, a Unix
// socket, runs as this process's effective user.
func samePeerUser(nc net.Conn) error {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("peer credentials: not a Unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("peer credentials: %w", cerr)
	}
	return checkPeerUID(cred.Uid, uint32(os.Geteuid()))
}

// checkPeerUID refuses a peer running as another user.
func checkPeerUID(peer, self uint32) error {
	if peer != self {
		return fmt.Errorf("peer credentials: %w: uid %d, not %d", errOtherUser, peer, self)
	}
	return nil
}
