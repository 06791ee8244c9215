package launcher

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMPIArgv(t *testing.T) {
	base := MPISpec{Command: "mpiexec.openmpi", Flavor: OpenMPI, N: 4, Binary: "/bin/pxsh", ConnFile: "/p/e.json"}
	tests := []struct {
		name string
		edit func(*MPISpec)
		want string
	}{
		{"openmpi plain", func(*MPISpec) {}, "mpiexec.openmpi -n 4 /bin/pxsh engine --file /p/e.json --mpi"},
		{"openmpi root local", func(s *MPISpec) { s.Root, s.LocalOnly = true, true },
			"mpiexec.openmpi --allow-run-as-root --oversubscribe --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo -n 4 /bin/pxsh engine --file /p/e.json --mpi"},
		{"openmpi root hosts", func(s *MPISpec) { s.Root, s.Hosts, s.Args = true, "h1:2,h2:2", []string{"--bind-to", "none"} },
			"mpiexec.openmpi --allow-run-as-root --oversubscribe --host h1:2,h2:2 --bind-to none -n 4 /bin/pxsh engine --file /p/e.json --mpi"},
		{"mpich local", func(s *MPISpec) { s.Command, s.Flavor, s.LocalOnly, s.Root = "mpiexec.mpich", MPICH, true, true },
			"mpiexec.mpich -launcher fork -iface lo -n 4 /bin/pxsh engine --file /p/e.json --mpi"},
		{"mpich hosts", func(s *MPISpec) { s.Command, s.Flavor, s.Hosts = "mpiexec", MPICH, "a:2" },
			"mpiexec -hosts a:2 -n 4 /bin/pxsh engine --file /p/e.json --mpi"},
	}
	for _, tt := range tests {
		s := base
		tt.edit(&s)
		if got := strings.Join(s.Argv(), " "); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// TestRankProgramOffset runs the wrapper used when the first engine id is
// not 0: the id is the rank plus the offset.
func TestRankProgramOffset(t *testing.T) {
	argv := rankProgram("/bin/echo", "/p/e.json", 5, 1, []string{"--x", "a b"})
	for _, tc := range []struct{ env, want string }{
		{"OMPI_COMM_WORLD_RANK=2", "engine --file /p/e.json --id 7 --x a b\n"},
		{"PMI_RANK=1", "engine --file /p/e.json --id 6 --x a b\n"},
		{"SLURM_PROCID=3", "engine --file /p/e.json --id 8 --x a b\n"},
	} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = []string{tc.env}
		out, err := cmd.Output()
		if err != nil || string(out) != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.env, out, err, tc.want)
		}
	}
	// and through a shell, as batch templates use it
	line := shellJoin(argv)
	out, err := exec.Command("/bin/sh", "-c", "OMPI_COMM_WORLD_RANK=1 "+line).Output()
	if err != nil || string(out) != "engine --file /p/e.json --id 6 --x a b\n" {
		t.Errorf("shell-quoted: %q, %v", out, err)
	}
}

func TestMPIFlavor(t *testing.T) {
	tests := []struct{ out, want string }{
		{"mpiexec (OpenRTE) 4.1.4\n\nReport bugs to http://www.open-mpi.org/community/help/", OpenMPI},
		{"HYDRA build details:\n    Version:                                 4.0.2", MPICH},
	}
	for _, tt := range tests {
		if got, err := mpiFlavor(tt.out); err != nil || got != tt.want {
			t.Errorf("%q: %q %v", tt.out, got, err)
		}
	}
	if _, err := mpiFlavor("something else"); err == nil {
		t.Error("unknown mpiexec accepted")
	}
}

func TestSSHCommandLines(t *testing.T) {
	tgt := SSHTarget{Host: "root@node1", ConfigFile: "/c/ssh_config", Port: 2222, Options: []string{"-o", "BatchMode=yes"}}
	s := NewSSHEngines(SSHEngineSpec{Target: tgt, IDs: []int{4, 5}, Binary: "/usr/local/bin/pxsh", ShipBinary: true,
		RemoteDir: ".pxsh/remote-c1", ConnFile: "/p/security/pxsh-engine.json", EngineArgs: []string{"--log", "x y"}})
	want := [][]string{
		{"ssh", "-F", "/c/ssh_config", "-p", "2222", "-o", "BatchMode=yes", "root@node1", "mkdir -p .pxsh/remote-c1/.incoming-node1"},
		{"scp", "-q", "-p", "-F", "/c/ssh_config", "-P", "2222", "-o", "BatchMode=yes", "/p/security/pxsh-engine.json", "/usr/local/bin/pxsh", "root@node1:.pxsh/remote-c1/.incoming-node1/"},
		{"ssh", "-F", "/c/ssh_config", "-p", "2222", "-o", "BatchMode=yes", "root@node1",
			"mv -f .pxsh/remote-c1/.incoming-node1/pxsh-engine.json .pxsh/remote-c1/pxsh-engine.json && mv -f .pxsh/remote-c1/.incoming-node1/pxsh .pxsh/remote-c1/pxsh && rmdir .pxsh/remote-c1/.incoming-node1"},
	}
	if diff := cmp.Diff(want, s.PrepareCommands()); diff != "" {
		t.Errorf("prepare (-want +got):\n%s", diff)
	}
	if got, w := s.RemoteCommand(5), "echo pxsh-remote-pid $$; exec .pxsh/remote-c1/pxsh engine --file .pxsh/remote-c1/pxsh-engine.json --id 5 --exit-on-stdin-eof --log 'x y'"; got != w {
		t.Errorf("remote command:\n got %s\nwant %s", got, w)
	}
	m := s.Members()
	if len(m) != 2 {
		t.Fatal(len(m))
	}
	wantArgs := []string{"-F", "/c/ssh_config", "-p", "2222", "-o", "BatchMode=yes", "root@node1", s.RemoteCommand(4)}
	if diff := cmp.Diff(wantArgs, m[0].spec.Args); diff != "" || m[0].spec.Path != "ssh" || !m[0].spec.KeepStdin {
		t.Errorf("engine 4 ssh (-want +got):\n%s", diff)
	}
	// without shipping: pxsh on the remote PATH
	s2 := NewSSHEngines(SSHEngineSpec{Target: SSHTarget{Host: "h"}, IDs: []int{0}, RemoteDir: "/tmp/r", ConnFile: "/c"})
	if len(s2.PrepareCommands()) != 3 || !strings.Contains(s2.RemoteCommand(0), "exec pxsh engine --file /tmp/r/pxsh-engine.json --id 0") {
		t.Errorf("no ship: %v %s", s2.PrepareCommands(), s2.RemoteCommand(0))
	}
	c := NewSSHController(SSHControllerSpec{Target: SSHTarget{Host: "head"}, RemoteDir: "/r", Args: []string{"--ip", "0.0.0.0"}})
	if got := strings.Join(c.Process.spec.Args, " "); got != "-tt head echo pxsh-remote-pid $$; exec pxsh controller --profile-dir /r --ip 0.0.0.0" {
		t.Errorf("controller: %s", got)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc", "a b": "'a b'", "it's": `'it'\''s'`, "": "''", "$x": "'$x'", "/p/a-b_c.json": "/p/a-b_c.json"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
	out, err := exec.Command("/bin/sh", "-c", "printf '%s|' "+shellJoin([]string{"a b", "it's", "$HOME", ""})).Output()
	if err != nil || string(out) != "a b|it's|$HOME||" {
		t.Errorf("round trip %q %v", out, err)
	}
}
