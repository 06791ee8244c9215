//go:build !linux

package quic

import "net"

// rawNet returns nc: raw system calls are used on Linux only.
func rawNet(nc net.Conn) net.Conn { return nc }
