//go:build !linux

package quic

import (
	"context"
	"net"
)

// Without abstract sockets and SO_PEERCRED the bulk channel stays on TLS
// over TCP.

func listenUnix(string) (net.Listener, error) { return nil, errLocalUnsupported }

func dialUnix(context.Context, string) (net.Conn, error) { return nil, errLocalUnsupported }

func samePeerUser(net.Conn) error { return errLocalUnsupported }
