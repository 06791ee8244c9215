package program

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/starlarklib/hostlib"
)

func launcherEnv(stdout, stderr io.Writer) clusterEnv {
	bin, _ := os.Executable()
	return clusterEnv{Stdout: stdout, Stderr: stderr, Getenv: getenv, Binary: bin, WaitEngines: dialEngines,
		CheckAllow: func(spec string) error { _, err := hostlib.ParseGrant(spec); return err }}
}

// dialEngines connects to a cluster and waits for n engines; it returns
// how many registered.
func dialEngines(ctx context.Context, connFile string, n int) (int, error) {
	var c *client.Client
	var err error
	for {
		c, err = client.Dial(ctx, connFile, client.Options{Timeout: 5 * time.Second})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(50 * time.Millisecond):
		}
	}
	defer c.Close()
	err = c.WaitForEngines(ctx, n)
	return len(c.Ids()), err
}

func clusterMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return clusterCLI(ctx, args, launcherEnv(stdout, stderr))
}

func profileMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return profileCLI(ctx, args, launcherEnv(stdout, stderr))
}
