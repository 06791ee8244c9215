//go:build !linux

package quic

import "os"

func mapFile(*os.File, int64) ([]byte, error) { return nil, errLocalUnsupported }

func munmap([]byte) error { return errLocalUnsupported }
