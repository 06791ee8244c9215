package program

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/profile"
)

const profileUsage = `usage:
  pxsh profile create NAME [--force]
  pxsh profile locate [NAME]
  pxsh profile list
`

// profileCLI runs `pxsh profile ARGS` and returns the exit status.
func profileCLI(ctx context.Context, args []string, env clusterEnv) int {
	env = env.withDefaults()
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, profileUsage)
		return exitUsage
	}
	root := profile.Root(env.Getenv)
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("pxsh profile create", flag.ContinueOnError)
		fs.SetOutput(env.Stderr)
		force := fs.Bool("force", false, "overwrite an existing config file")
		name, rest := "default", args[1:]
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			name, rest = rest[0], rest[1:]
		}
		if err := fs.Parse(rest); err != nil {
			return exitUsage
		}
		if fs.NArg() > 0 {
			name = fs.Arg(0)
		}
		if strings.ContainsAny(name, "/\\") || name == "" || name == "." || name == ".." {
			fmt.Fprintf(env.Stderr, "pxsh profile create: bad profile name %q\n", name)
			return exitUsage
		}
		dir := profile.Dir(root, name)
		if err := profile.Ensure(dir); err != nil {
			fmt.Fprintf(env.Stderr, "pxsh profile create: %v\n", err)
			return exitError
		}
		path := filepath.Join(dir, profile.ConfigFile)
		if _, err := os.Stat(path); err == nil && !*force {
			fmt.Fprintf(env.Stderr, "pxsh profile create: %s exists (--force overwrites it)\n", path)
			return exitError
		}
		if err := os.WriteFile(path, []byte(launcher.DefaultConfigFile(name)), 0o600); err != nil {
			fmt.Fprintf(env.Stderr, "pxsh profile create: %v\n", err)
			return exitError
		}
		fmt.Fprintf(env.Stdout, "created profile %s: %s\n", name, path)
		return exitOK
	case "locate":
		name := "default"
		if len(args) > 1 {
			name = args[1]
		}
		fmt.Fprintln(env.Stdout, profile.Dir(root, name))
		return exitOK
	case "list":
		for _, d := range profileDirs(root) {
			fmt.Fprintln(env.Stdout, profileName(d))
		}
		return exitOK
	}
	fmt.Fprintf(env.Stderr, "pxsh profile: unknown command %q\n%s", args[0], profileUsage)
	return exitUsage
}
