package shell

import (
	"fmt"
	"io"
	"strings"

	"github.com/pxsh/pxsh/shell/clientlib"
)

// noteBlocked records the AsyncResult of a blocking call for %timeline.
func (s *Shell) noteBlocked(ar *clientlib.AsyncResult) {
	s.mu.Lock()
	s.blocked = ar
	s.mu.Unlock()
}

// lsmagic serves %lsmagic: the magics available now.
func (s *Shell) lsmagic() {
	var line, cell []string
	for _, m := range s.MagicNames() {
		if strings.HasPrefix(m, "%%") {
			cell = append(cell, m)
		} else {
			line = append(line, m)
		}
	}
	fmt.Fprintln(s.cfg.Stdout, "Available line magics:")
	fmt.Fprintln(s.cfg.Stdout, strings.Join(line, "  "))
	fmt.Fprintln(s.cfg.Stdout)
	fmt.Fprintln(s.cfg.Stdout, "Available cell magics:")
	fmt.Fprintln(s.cfg.Stdout, strings.Join(cell, "  "))
	fmt.Fprintln(s.cfg.Stdout)
	io.WriteString(s.cfg.Stdout, `help("%px") documents a magic.`+"\n")
}

// timeline serves %timeline PATH: the last blocking call's tasks as an
// SVG task-stream chart.
func (s *Shell) timeline(rest string) error {
	path := strings.TrimSpace(rest)
	if path == "" {
		return usage("%%timeline: missing file name (e.g. %%timeline tasks.svg)")
	}
	s.mu.Lock()
	ar := s.blocked
	s.mu.Unlock()
	if ar == nil {
		return usage("%%timeline draws the last blocking call, and there has been none yet.")
	}
	if err := ar.WriteTimeline(path); err != nil {
		return err
	}
	fmt.Fprintf(s.cfg.Stdout, "wrote %s (%d tasks)\n", path, len(ar.Tasks()))
	return nil
}
