package launcher

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// Runner runs short helper commands (sbatch, scancel, squeue, scp, ssh
// mkdir...). Tests substitute a fake that records command lines.
type Runner interface {
	// Run runs argv with stdin (nil: empty) and returns its standard
	// output. A non-zero exit is an error that includes standard error.
	Run(ctx context.Context, stdin io.Reader, argv ...string) ([]byte, error)
}

// ExecRunner runs commands with os/exec. Env is their environment (nil
// inherits). It is safe for concurrent use.
type ExecRunner struct {
	Env []string
}

// Run runs argv.
func (r ExecRunner) Run(ctx context.Context, stdin io.Reader, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("run: empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = r.Env
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		if len(msg) > 500 {
			msg = msg[:500] + "..."
		}
		return out.Bytes(), fmt.Errorf("run %s: %w: %s", argv[0], err, msg)
	}
	return out.Bytes(), nil
}
