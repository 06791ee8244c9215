//go:build !linux

package quic

// sendIdle reports whether a small write to the channel cannot block;
// without a way to ask the socket, never.
func (b *bulk) sendIdle() bool { return false }

// tryWrite is not available here: the caller asks sendIdle.
func (b *bulk) tryWrite(p []byte) (n int, err error, ok bool) { return 0, nil, false }
