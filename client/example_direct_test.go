package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pxsh/pxsh/client"
)

// Example_direct shows the direct interface from Go: map, scatter and
// gather over every engine, with typed results. It needs a running
// cluster ("pxsh cluster start -n 4"), so it has no Output comment.
func Example_direct() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "ipcontroller-client.json", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	all := c.View() // every engine, re-evaluated at each call

	ar, err := all.MapAsync("lambda x: x * x", []any{1, 2, 3, 4, 5})
	if err != nil {
		log.Fatal(err)
	}
	squares, err := client.Values[int](ctx, ar)
	if err != nil {
		log.Fatal(err) // a *client.RemoteError or *client.CompositeError
	}
	fmt.Println(squares)

	if err := all.Scatter(ctx, "part", []any{1.5, 2.5, 3.5, 4.5}, false); err != nil {
		log.Fatal(err)
	}
	parts, err := all.Gather(ctx, "part")
	fmt.Println(parts, err)

	st, err := c.QueueStatus(ctx, false)
	if err == nil {
		fmt.Println(st.Engines[0].Completed, st.Unassigned)
	}
}

// ExampleChunks shows how Map and Scatter cut a sequence over engines.
func ExampleChunks() {
	fmt.Println(client.Chunks(101, 4))
	fmt.Println(client.Chunks(2, 3))
	// Output:
	// [[0 26] [26 51] [51 76] [76 101]]
	// [[0 1] [1 2] [2 2]]
}
