//go:build !linux

package quic

import (
	"io"
	"net"
	"os"
)

// Without memfds (and without the local bulk channel) bodies travel in
// chunks.

const memfdSupported = false

func newMemfd([][]byte, int64) (*os.File, error) { return nil, errLocalUnsupported }

func createMemfd() (*os.File, error) { return nil, errLocalUnsupported }

func fillMemfd(*os.File, [][]byte, int64) error { return errLocalUnsupported }

func checkMemfd(*os.File, int64) (bool, error) { return false, errLocalUnsupported }

func copyFile(w io.Writer, src *os.File, off, n int64) (int64, error) {
	return copyFileGeneric(w, src, off, n)
}

type fdReader struct{}

func newFDReader(net.Conn) *fdReader { return nil }

func (r *fdReader) Read([]byte) (int, error) { return 0, errLocalUnsupported }

func (r *fdReader) take() *os.File { return nil }

func (r *fdReader) close() {}

func writeFD(net.Conn, []byte, *os.File) error { return errLocalUnsupported }

func prefault([]byte) {}
