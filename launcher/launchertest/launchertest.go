// Package launchertest holds what the launcher and program tests share:
// a fake pxsh binary as a shell script.
package launchertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxsh/pxsh/protocol"
)

// FakePxsh is a stand-in for the pxsh binary: `controller` writes
// connection files (address $FAKE_ADDR) and sleeps, `engine` sleeps.
// The engine file, which the launcher waits for, is written last: once
// it is there no `mv` of the killed script can still write.
const FakePxsh = `#!/bin/sh
echo "$*"
cmd=$1; shift
case $cmd in
controller)
  while [ $# -gt 0 ]; do case $1 in --profile-dir) dir=$2; shift;; esac; shift; done
  mkdir -p "$dir/security"
  for f in client engine; do
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

// WriteScript writes an executable script text (VERSION replaced by the
// protocol version) as dir/name and returns its path.
func WriteScript(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	text = strings.ReplaceAll(text, "VERSION", fmt.Sprint(protocol.Version))
	if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
