package shell

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/protocol"
)

func TestProfileClusterNothingRecorded(t *testing.T) {
	path, err := profileCluster(context.Background(), filepath.Join(t.TempDir(), "profile_default"))
	if path != "" || err != nil {
		t.Fatalf("empty profile: %q, %v", path, err)
	}
}

func TestProfileClusterRecordedButDown(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "profile_work")
	conn := &profile.Connection{Addresses: []string{"127.0.0.1:1"}, Fingerprint: "sha256:00",
		Key: strings.Repeat("ab", 32), ClusterID: "c", Version: protocol.Version, PID: dead.Process.Pid}
	if err := profile.Write(profile.ConnectionPath(dir, false), conn); err != nil {
		t.Fatal(err)
	}
	path, err := profileCluster(context.Background(), dir)
	if path != "" || err == nil {
		t.Fatalf("recorded but down: %q, %v", path, err)
	}
	for _, want := range []string{`profile "work"`, "not reachable", profile.ConnectionPath(dir, false), "pxsh cluster stop"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
