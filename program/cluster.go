package program

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/starlarklib/hostlib"
)

func launcherEnv(stdout, stderr io.Writer) launcher.Env {
	bin, _ := os.Executable()
	return launcher.Env{Stdout: stdout, Stderr: stderr, Getenv: getenv, Binary: bin, WaitEngines: waitEngines,
		CheckAllow: func(spec string) error { _, err := hostlib.ParseGrant(spec); return err }}
}

// waitEngines connects to a cluster and waits for n engines; it returns
// how many registered.
func waitEngines(ctx context.Context, connFile string, n int) (int, error) {
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
	return launcher.ClusterMain(ctx, args, launcherEnv(stdout, stderr))
}

func profileMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return launcher.ProfileMain(ctx, args, launcherEnv(stdout, stderr))
}
