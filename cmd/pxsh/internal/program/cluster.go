package program

import (
	"context"
	"fmt"
	"io"
)

func clusterMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "pxsh cluster: not available yet")
	return 2
}

func profileMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "pxsh profile: not available yet")
	return 2
}
