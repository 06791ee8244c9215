//go:build linux

package quic

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// waitKept waits until c's pool keeps n memfds.
func waitKept(t *testing.T, c *Conn, n int) {
	t.Helper()
	p := c.impl.bulk.pool
	waitUntil(t, func() bool { k, _ := p.kept(); return k == n },
		func() string { k, b := p.kept(); return fmt.Sprintf("%d memfds kept (%d bytes), want %d", k, b, n) })
}

// receive reads the next stream of c and returns its inode, whether it
// came sealed, and its bytes.
func receiveFD(t *testing.T, c *Conn) (ino uint64, sealed bool, got []byte) {
	t.Helper()
	_, body, err := c.ReadStream()
	if err != nil {
		t.Fatal(err)
	}
	ino, sealed = inode(t, body), body.mfd.isSealed()
	if got, err = body.Bytes(); err != nil {
		t.Fatal(err)
	}
	return ino, sealed, got
}

// An Unmapped body goes as a memfd not sealed, which the sender keeps
// once the peer released it and writes again for the next such body (the
// same inode, each body's own bytes); a body not so marked, or larger
// than a pool keeps, goes in a new sealed memfd.
func TestMemfdWrittenAgain(t *testing.T) {
	_, client, served := localPair(t)
	var inodes []uint64
	for i, n := range []int{2 * int(FDMin), 2 * int(FDMin), int(FDMin), 3 * int(FDMin)} {
		data := randomBytes(n)
		if err := client.WriteStream([]byte("h"), NewBody(data).Unmapped()); err != nil {
			t.Fatal(err)
		}
		ino, sealed, got := receiveFD(t, served)
		if sealed {
			t.Errorf("body %d came sealed", i)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("body %d: %d bytes differ from the %d sent", i, len(got), len(data))
		}
		inodes = append(inodes, ino)
		waitKept(t, client, 1)
	}
	for i, ino := range inodes[1:] {
		if ino != inodes[0] {
			t.Errorf("body %d came in memfd %d, not the kept %d", i+1, ino, inodes[0])
		}
	}
	data := randomBytes(int(FDMin))
	client.WriteStream([]byte("h"), NewBody(data))
	ino, sealed, got := receiveFD(t, served)
	if !sealed || ino == inodes[0] || !bytes.Equal(got, data) {
		t.Errorf("a body not marked Unmapped: sealed %v, inode %d (kept %d), bytes equal %v", sealed, ino, inodes[0], bytes.Equal(got, data))
	}
	defer func(n int64) { poolBytes = n }(poolBytes)
	poolBytes = 2 * FDMin
	data = randomBytes(3 * int(FDMin))
	client.WriteStream([]byte("h"), NewBody(data).Unmapped())
	ino, sealed, got = receiveFD(t, served)
	if !sealed || ino == inodes[0] || !bytes.Equal(got, data) {
		t.Errorf("a body larger than a pool keeps: sealed %v, inode %d (kept %d), bytes equal %v", sealed, ino, inodes[0], bytes.Equal(got, data))
	}
	waitKept(t, client, 1)
}

// A memfd not sealed is read, never mapped: once Map returned, the
// sender writing the memfd again changes nothing the receiver holds.
func TestUnsealedMemfdIsRead(t *testing.T) {
	_, client, served := localPair(t)
	data := randomBytes(int(FDMin))
	client.WriteStream([]byte("h"), NewBody(data).Unmapped())
	_, body, err := served.ReadStream()
	if err != nil {
		t.Fatal(err)
	}
	m, err := body.Map()
	if err != nil {
		t.Fatal(err)
	}
	waitKept(t, client, 1)
	f := client.impl.bulk.pool.get(int64(len(data)))
	if err := fillMemfd(f, [][]byte{make([]byte, len(data))}, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n, _ := MappingCounts(); n != 0 {
		t.Errorf("%d mappings live: the memfd not sealed was mapped", n)
	}
	if !bytes.Equal(m.Bytes(), data) {
		t.Error("the value read changed when its sender wrote the memfd again")
	}
}

// A hop acknowledges a memfd not sealed only once the peer it forwarded
// it to released it: then the sender keeps it. When that peer's
// connection closes before it did, the hop says the memfd may be held
// still, and the sender closes it instead.
func TestMemfdHeldByAPeer(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(fmt.Sprintf("lost=%v", lost), func(t *testing.T) {
			key := testKey(t)
			srv := startServer(t, Config{Key: key})
			a := srv.dial(t, Config{Key: key})
			hop := srv.accept(t)
			d := srv.dial(t, Config{Key: key})
			toD := srv.accept(t)
			waitBulk(t, a, hop, d, toD)
			data := randomBytes(int(FDMin))
			kept0, dropped0 := fdKept.Load(), fdDropped.Load()
			within(t, "forwarding", func() {
				a.WriteStream([]byte("h"), NewBody(data).Unmapped())
				_, body, err := hop.ReadStream()
				if err != nil {
					t.Error(err)
					return
				}
				if err := toD.WriteStream([]byte("h"), body); err != nil {
					t.Error(err)
					return
				}
				_, got, err := d.ReadStream()
				if err != nil {
					t.Error(err)
					return
				}
				if lost {
					d.Close(codeOK, "gone")
					return
				}
				if b, err := got.Bytes(); err != nil || !bytes.Equal(b, data) {
					t.Errorf("forwarded: %d bytes, %v", len(b), err)
				}
			})
			waitUntil(t, func() bool { return fdKept.Load()+fdDropped.Load() > kept0+dropped0 },
				func() string { return "the sender did not learn whether the memfd was released" })
			if kept, dropped := fdKept.Load()-kept0, fdDropped.Load()-dropped0; kept != 1-b2u(lost) || dropped != b2u(lost) {
				t.Errorf("memfds kept %d, closed %d", kept, dropped)
			}
			waitKept(t, a, 1-int(b2u(lost)))
		})
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// A memfd not sealed that shrinks before it is read fails its body with
// a clear error: nothing is mapped that could fault.
func TestUnsealedMemfdShrunk(t *testing.T) {
	_, client, served := localPair(t)
	f := rawMemfd(t, 1000, 0)
	client.impl.st.Write(fdHead(1, 1000))
	if err := writeFD(client.impl.bulk.nc, fdItem(1), f); err != nil {
		t.Fatal(err)
	}
	within(t, "the shrunk memfd", func() {
		_, body, err := served.ReadStream()
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := body.mfd.wait(); err != nil {
			t.Error(err)
			return
		}
		f.Truncate(10)
		if _, err := body.Map(); !errors.Is(err, ErrBodyAborted) || !strings.Contains(err.Error(), "read memfd") {
			t.Errorf("got %v, want a failed read of the memfd", err)
		}
	})
}

// A pool keeps at most poolFiles memfds of poolBytes together (the
// oldest go first), gives the one nearest in size, closes those unused
// for poolIdle, and closes everything once closed.
func TestFDPoolBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &fdPool{}
		file := func() *os.File {
			f, err := createMemfd()
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		var files []*os.File
		for i := range poolFiles + 1 {
			files = append(files, file())
			p.put(files[i], int64(100*(i+1)))
		}
		if n, b := p.kept(); n != poolFiles || b != 200+300+400+500 {
			t.Errorf("kept %d memfds of %d bytes, want %d of %d", n, b, poolFiles, 1400)
		}
		if _, err := files[0].Stat(); err == nil {
			t.Error("the oldest memfd is still open")
		}
		if f := p.get(310); f != files[2] {
			t.Error("get(310) did not give the 300-byte memfd")
		}
		big := file()
		p.put(big, poolBytes-150)
		if n, b := p.kept(); n != 1 || b != poolBytes-150 {
			t.Errorf("after a put near poolBytes: %d memfds of %d bytes", n, b)
		}
		p.get(poolBytes).Close()
		p.put(file(), 100)
		time.Sleep(poolIdle / 2)
		p.put(files[2], 300)
		time.Sleep(poolIdle/2 + time.Millisecond)
		synctest.Wait()
		if n, b := p.kept(); n != 1 || b != 300 {
			t.Errorf("after %v: %d memfds of %d bytes, want the one kept later", poolIdle, n, b)
		}
		time.Sleep(poolIdle)
		synctest.Wait()
		if n, _ := p.kept(); n != 0 {
			t.Errorf("%d memfds kept after they were idle for %v", n, poolIdle)
		}
		p.close()
		late := file()
		p.put(late, 100)
		if _, err := late.Stat(); err == nil {
			t.Error("a memfd put after close is still open")
		}
	})
}
