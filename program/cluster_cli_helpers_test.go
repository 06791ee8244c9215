package program

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/protocol"
)

// The helpers of the cluster CLI tests (as launcher's own tests have them).

// fakePxsh is a stand-in for the pxsh binary: `controller` writes
// connection files (address $FAKE_ADDR) and sleeps, `engine` sleeps.
const fakePxsh = `#!/bin/sh
echo "$*"
cmd=$1; shift
case $cmd in
controller)
  while [ $# -gt 0 ]; do case $1 in --profile-dir) dir=$2; shift;; esac; shift; done
  mkdir -p "$dir/security"
  for f in engine client; do
    printf '{"addresses":["%s"],"fingerprint":"sha256:ab","key":"00112233445566778899aabbccddeeff","cluster_id":"fake-1","version":%d,"pid":%d}\n' "${FAKE_ADDR:-127.0.0.1:4000}" VERSION $$ >"$dir/security/.tmp-$f"
    mv "$dir/security/.tmp-$f" "$dir/security/pxsh-$f.json"
  done
  exec sleep 300;;
engine)
  echo "engine $*"
  exec sleep 300;;
esac
exit 2
`

func writeScript(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	text = strings.ReplaceAll(text, "VERSION", fmt.Sprint(protocol.Version))
	if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func procsOf(st *launcher.ClusterState) []launcher.ProcRecord {
	var out []launcher.ProcRecord
	for _, r := range st.Records {
		out = append(out, r.Procs...)
	}
	return out
}

// assertAllGone waits until every process of procs ended.
func assertAllGone(t *testing.T, procs []launcher.ProcRecord) {
	t.Helper()
	for _, p := range procs {
		deadline := time.Now().Add(5 * time.Second)
		for launcher.Alive(p.PID) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // polling a process we do not own
		}
		if launcher.Alive(p.PID) {
			t.Errorf("process %d (engine %d) still running", p.PID, p.ID)
		}
	}
}
