//go:build linux

package quic

import (
	"bytes"
	"fmt"
	"testing"
)

// A sealed body holds its bytes as they were when sealed, goes to a
// local peer as the same memfd each time it is sent, and its memfd
// closes once its holder released it and its sends are done.
func TestSealedSentTwice(t *testing.T) {
	_, client, served := localPair(t)
	if !client.LocalMemfds() || !served.LocalMemfds() {
		t.Fatal("LocalMemfds is false on the local channel")
	}
	head, tail := []byte("head"), randomBytes(3*ChunkSize+5)
	want := append(append([]byte{}, head...), tail...)
	s, err := NewSealed([][]byte{head, tail})
	if err != nil {
		t.Fatal(err)
	}
	for k := range tail {
		tail[k] ^= 0xff // the memfd was written before NewSealed returned
	}
	var inodes []uint64
	within(t, "sealed sends", func() {
		for i := range 2 {
			if err := client.WriteStream([]byte{byte(i)}, s.Body()); err != nil {
				t.Error(err)
				return
			}
			_, body, err := served.ReadStream()
			if err != nil || body == nil {
				t.Errorf("send %d: %v", i, err)
				return
			}
			inodes = append(inodes, inode(t, body))
			if got, err := body.Bytes(); err != nil || !bytes.Equal(got, want) {
				t.Errorf("send %d: %d bytes, %v, not as sealed", i, len(got), err)
			}
		}
	})
	if len(inodes) == 2 && inodes[0] != inodes[1] {
		t.Errorf("the two sends came as memfds %d and %d, want the same", inodes[0], inodes[1])
	}
	s.Release()
	waitSlotsFree(t, served)
	state := func() (int, bool) {
		s.fd.mu.Lock()
		defer s.fd.mu.Unlock()
		return s.fd.refs, s.fd.f != nil
	}
	waitUntil(t, func() bool { refs, open := state(); return refs == 0 && !open }, func() string {
		refs, open := state()
		return fmt.Sprintf("after release: %d references, memfd open %v", refs, open)
	})
}

// Below the memfd threshold, or with memfds off, NewSealed refuses.
func TestSealedRefusesSmall(t *testing.T) {
	if _, err := NewSealed([][]byte{make([]byte, 100)}); err == nil {
		t.Error("a 100-byte body was sealed")
	}
}
