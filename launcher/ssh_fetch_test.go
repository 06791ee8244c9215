package launcher

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scpWriter plays scp: it writes the file named by its last argument in
// two halves, checking between them that no connection file in dir is
// half written.
type scpWriter struct {
	t   *testing.T
	dir string
}

func (r scpWriter) Run(_ context.Context, _ io.Reader, argv ...string) ([]byte, error) {
	dst := argv[len(argv)-1]
	f, err := os.Create(dst)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	f.WriteString(`{"addresses":`)
	for _, name := range []string{"pxsh-client.json", "pxsh-engine.json"} {
		if b, err := os.ReadFile(filepath.Join(r.dir, name)); err == nil && !strings.HasSuffix(string(b), "}") {
			r.t.Errorf("%s seen half written: %q", name, b)
		}
	}
	_, err = f.WriteString(`["127.0.0.1:1"]}`)
	return nil, err
}

// A connection file fetched again while engines may read it is never
// seen half written: it is renamed into place.
func TestSSHFetchReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	c := NewSSHController(SSHControllerSpec{Target: SSHTarget{Host: "h"}, RemoteDir: "/r", LocalSecurityDir: dir, Runner: scpWriter{t, dir}})
	for range 2 {
		if err := c.Fetch(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"pxsh-client.json", "pxsh-engine.json"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != `{"addresses":["127.0.0.1:1"]}` {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".fetch-*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
