package program

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/pxsh/pxsh/keepawake"
)

// isMain is set by Main: this process's main is the program, so it runs
// `keepawake` when started with it.
var isMain atomic.Bool

// keepAwakeCommand is the controller's spinner command (hub.Config.KeepAwake):
// this program's `keepawake` subcommand, unless PXSH_KEEPAWAKE=0. Only a
// binary whose main is Main (pxsh, or a pxsh with modules) runs itself so:
// a program that embeds the controller otherwise (StartPrivate), or a test
// binary, gets no spinner, since its own main would run instead.
func keepAwakeCommand() []string {
	if os.Getenv("PXSH_KEEPAWAKE") == "0" {
		return nil
	}
	if !isMain.Load() {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return []string{exe, "keepawake"}
}

// keepAwakeMain is the spinner a controller starts (package keepawake):
// its shared page is file descriptor 3; it ends with its standard input.
func keepAwakeMain(stdin io.Reader, stderr io.Writer) int {
	if err := keepawake.Spin(os.NewFile(3, "keepawake"), stdin); err != nil {
		fmt.Fprintln(stderr, "pxsh", err) // err says keepawake:
		return 1
	}
	return 0
}
