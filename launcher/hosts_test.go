package launcher

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseHosts(t *testing.T) {
	got, err := ParseHosts("node1:4, user@node2:2,node3,[::1]:2,[fe80::1]")
	if err != nil {
		t.Fatal(err)
	}
	want := []HostSpec{{"node1", 4}, {"user@node2", 2}, {"node3", 0}, {"::1", 2}, {"fe80::1", 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"node:x", "node:-1", ":3", "a b:2"} {
		if _, err := ParseHosts(bad); err == nil {
			t.Errorf("ParseHosts(%q) accepted", bad)
		}
	}
}

func TestDistribute(t *testing.T) {
	tests := []struct {
		hosts string
		n     int
		want  []int
		err   bool
	}{
		{"a:2,b:2", 0, []int{2, 2}, false},
		{"a:2,b:2", 4, []int{2, 2}, false},
		{"a:2,b:2", 6, []int{3, 3}, false},
		{"a,b,c", 4, []int{2, 1, 1}, false},
		{"a:3,b,c", 5, []int{3, 1, 1}, false},
		{"a:3,b:3", 4, nil, true},
		{"a,b", 0, nil, true},
	}
	for _, tt := range tests {
		hs, _ := ParseHosts(tt.hosts)
		got, err := Distribute(hs, tt.n)
		if (err != nil) != tt.err || !cmp.Equal(got, tt.want) {
			t.Errorf("Distribute(%s, %d) = %v, %v; want %v (err %v)", tt.hosts, tt.n, got, err, tt.want, tt.err)
		}
	}
}

func TestCheckReachable(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost vm\n127.0.1.1 debian # comment\n10.0.0.5 node5\n::1 ip6-localhost\n"), 0o644)
	tests := []struct {
		addrs    []string
		loopback bool
	}{
		{[]string{"127.0.0.1:9"}, true},
		{[]string{"localhost:9", "[::1]:9"}, true},
		{[]string{"vm:4000", "debian:1"}, true},
		{[]string{"127.0.0.1:9", "10.0.0.5:9"}, false},
		{[]string{"node5:4000"}, false},
		{[]string{"unknown-host:4000"}, false},
		{[]string{"0.0.0.0:4000"}, false},
	}
	for _, tt := range tests {
		err := checkReachable(tt.addrs, "ssh", hosts)
		if got := errors.Is(err, ErrLoopback); got != tt.loopback {
			t.Errorf("%v: loopback = %v (%v), want %v", tt.addrs, got, err, tt.loopback)
		}
		if tt.loopback && (!strings.Contains(err.Error(), "--ip") || !strings.Contains(err.Error(), "--location")) {
			t.Errorf("error does not suggest --ip/--location: %v", err)
		}
	}
}
