package clientlib_test

import (
	"testing"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/starlarklib"
)

// Engines run the client's map chunk function in Go: the two copies of its
// source agree.
func TestMapChunkRunsInGo(t *testing.T) {
	f := client.MapChunkFunction()
	if !starlarklib.IsMapChunk(&f) {
		t.Fatal("client.MapChunkFunction is not the function starlarklib runs in Go")
	}
}
