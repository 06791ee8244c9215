//go:build !linux

package quic

import (
	"context"
	"net"
	"time"
)

// Without abstract sockets and SO_PEERCRED the bulk channel stays on TLS
// over TCP.

func listenUnix(string) (net.Listener, error) { return nil, errLocalUnsupported }

func dialUnix(context.Context, string) (net.Conn, error) { return nil, errLocalUnsupported }

func samePeerUser(net.Conn) error { return errLocalUnsupported }

// withPipes keeps nc: frame pipes are Linux only (pipes_linux.go).
func withPipes(nc net.Conn, first bool, deadline time.Time) (net.Conn, error) { return nc, nil }
