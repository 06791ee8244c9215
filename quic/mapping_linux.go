package quic

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps size bytes of f, a sealed memfd, private and writable
// (copy-on-write: allowed on a write-sealed memfd, which only refuses
// shared writable mappings).
func mapFile(f *os.File, size int64) ([]byte, error) {
	flags := unix.MAP_PRIVATE
	if mapPopulate {
		flags |= unix.MAP_POPULATE
	}
	return unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, flags)
}

func munmap(mem []byte) error { return unix.Munmap(mem) }
