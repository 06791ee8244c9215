package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pxsh/pxsh/client"
)

// Example_array sends a matrix to every engine as a typed array, lets
// each compute with np, and reads typed arrays back. It needs a running
// cluster, so it has no Output comment.
func Example_array() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "ipcontroller-client.json", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	all := c.View()

	m := client.Array{Shape: []int{2, 2}, Data: []float64{2, 1, 1, 2}}
	if err := all.Push(ctx, map[string]any{"m": m}); err != nil {
		log.Fatal(err)
	}
	vals, err := all.Pull(ctx, "np.linalg.eigvals(m)")
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range vals {
		w := v.(client.Array) // Data is []float64 here, []complex128 for complex eigenvalues
		fmt.Println(w.Shape, w.Data)
	}
}
