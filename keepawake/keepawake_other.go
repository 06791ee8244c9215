//go:build !linux

package keepawake

import (
	"io"
	"os"
)

// A Waker does nothing on this system.
type Waker struct{}

// Start reports ErrUnsupported.
func Start(string, ...string) (*Waker, error) { return nil, ErrUnsupported }

// Poke does nothing.
func (w *Waker) Poke() {}

// Close does nothing.
func (w *Waker) Close() error { return nil }

// Spin reports ErrUnsupported.
func Spin(*os.File, io.Reader) error { return ErrUnsupported }

// Pointless reports nothing: there is no spinner here.
func Pointless() string { return "" }
