//go:build !linux

package quic

// sendIdle reports whether a small write to the channel cannot block;
// without a way to ask the socket, never.
func (b *bulk) sendIdle() bool { return false }
