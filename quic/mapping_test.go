//go:build linux

package quic

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
)

// A mapped memfd body is the sealed bytes, private to its mapping (a
// write changes neither the memfd nor another receiver's mapping of it),
// acknowledged once mapped, and unmapped by the collector once its
// Mapping is unreachable.
func TestMapBody(t *testing.T) {
	_, client, served := localPair(t)
	want := randomBytes(3*ChunkSize + 5)
	s, err := NewSealed([][]byte{want})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	recv := func() *Body {
		t.Helper()
		var body *Body
		within(t, "a sealed send", func() {
			if err := client.WriteStream([]byte{1}, s.Body()); err != nil {
				t.Error(err)
				return
			}
			_, body, err = served.ReadStream()
		})
		if err != nil || body == nil || !body.Memfd() {
			t.Fatalf("read stream: %v, body %v", err, body)
		}
		return body
	}
	n0, _ := MappingCounts()
	b1, b2 := recv(), recv()
	if p, err := b1.Peek(8); err != nil || !bytes.Equal(p, want[:8]) {
		t.Fatalf("peek: %x, %v", p, err)
	}
	m1, err := b1.Map()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := b2.Map()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m1.Bytes(), want) || !bytes.Equal(m2.Bytes(), want) {
		t.Fatal("a mapping is not the sealed bytes")
	}
	if n, _ := MappingCounts(); n != n0+2 {
		t.Errorf("%d mappings live, want %d", n, n0+2)
	}
	waitSlotsFree(t, served) // both memfds acknowledged once mapped
	m1.Bytes()[0] ^= 0xff
	m1.Bytes()[len(want)-1] ^= 0xff
	if m2.Bytes()[0] != want[0] || m2.Bytes()[len(want)-1] != want[len(want)-1] {
		t.Error("a write to one mapping changed another receiver's")
	}
	if got, err := recv().Bytes(); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the memfd after a write to a mapping of it: %v, changed %v", err, !bytes.Equal(got, want))
	}
	if _, err := b1.Map(); err == nil {
		t.Error("a body mapped twice")
	}
	m1, m2 = nil, nil
	waitUntil(t, func() bool { runtime.GC(); n, _ := MappingCounts(); return n == n0 }, func() string {
		n, size := MappingCounts()
		return fmt.Sprintf("%d mappings (%d bytes) live after their Mappings were dropped, want %d", n, size, n0)
	})
}

// A body that does not come as a memfd is not mapped.
func TestMapRefusesOtherBodies(t *testing.T) {
	b := NewBody(make([]byte, 1<<20))
	if _, err := b.Map(); err == nil {
		t.Error("a body in memory was mapped")
	}
	if p, err := b.Peek(8); p != nil || err != nil {
		t.Errorf("peek of a body in memory: %v, %v", p, err)
	}
}

// Where mapping fails, Map reads the body into Go memory instead.
func TestMapFallsBackToReading(t *testing.T) {
	_, client, served := localPair(t)
	old := mapBody
	mapBody = func(*os.File, int64) ([]byte, error) { return nil, errors.New("no mapping today") }
	t.Cleanup(func() { mapBody = old })
	want := randomBytes(2 * ChunkSize)
	s, err := NewSealed([][]byte{want})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	var body *Body
	within(t, "a sealed send", func() {
		if err := client.WriteStream([]byte{1}, s.Body()); err != nil {
			t.Error(err)
			return
		}
		_, body, err = served.ReadStream()
	})
	if err != nil || body == nil {
		t.Fatalf("read stream: %v", err)
	}
	n0, _ := MappingCounts()
	m, err := body.Map()
	if err != nil || !bytes.Equal(m.Bytes(), want) {
		t.Fatalf("map with mapping failing: %v, bytes equal %v", err, err == nil && bytes.Equal(m.Bytes(), want))
	}
	if n, _ := MappingCounts(); n > n0 {
		t.Errorf("%d mappings counted, want %d: the body was read", n, n0)
	}
	waitSlotsFree(t, served)
}

// Bodies mapped and dropped in a loop that allocates nothing on the Go
// heap are unmapped all the same: the mapper starts a collection once it
// mapped more than mapMinGC since the last one.
func TestMapPacesCollections(t *testing.T) {
	_, client, served := localPair(t)
	old := mapMinGC
	mapMinGC = 4 << 20
	t.Cleanup(func() { mapMinGC = old })
	size := int64(1 << 20)
	s, err := NewSealed([][]byte{make([]byte, size)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	_, live0 := MappingCounts()
	for i := range 24 {
		var body *Body
		within(t, "a sealed send", func() {
			if err := client.WriteStream([]byte{1}, s.Body()); err != nil {
				t.Error(err)
				return
			}
			_, body, err = served.ReadStream()
		})
		if err != nil || body == nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if _, err := body.Map(); err != nil {
			t.Fatal(err)
		}
	}
	// Without a collection of its own the test waits for the cleanups of
	// those the mapper's collections found unreachable.
	waitUntil(t, func() bool { _, b := MappingCounts(); return b-live0 <= mapMinGC+size }, func() string {
		n, b := MappingCounts()
		return fmt.Sprintf("%d mappings, %d bytes live after 24 bodies of %d bytes mapped and dropped, want at most %d more than %d",
			n, b, size, mapMinGC+size, live0)
	})
}
