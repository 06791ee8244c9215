// Command pxsh is the one binary of a pxsh cluster: the shell and script
// runner, the controller, the engine, and cluster management.
package main

import (
	"os"

	"github.com/pxsh/pxsh/program"
)

func main() { os.Exit(program.Main()) }
