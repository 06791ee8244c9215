package launcher

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// remotePIDPrefix starts the line a remote command prints with its pid.
const remotePIDPrefix = "pxsh-remote-pid "

// SSHTarget says how to reach one host with ssh and scp.
type SSHTarget struct {
	// Host is the destination ("host" or "user@host").
	Host string
	// SSH and SCP are the programs ("ssh", "scp" if empty).
	SSH, SCP string
	// ConfigFile is passed as -F; Port as -p / -P when not 0.
	ConfigFile string
	Port       int
	// Options are extra options for both programs.
	Options []string
}

func targetFor(c SSHConfig, host string) SSHTarget {
	return SSHTarget{Host: host, SSH: c.SSH, SCP: c.SCP, ConfigFile: c.ConfigFile, Port: c.Port, Options: c.Options}
}

// SSHArgv returns the ssh command line running the shell command remote
// on the host; tty adds -tt (the remote command then gets SIGHUP when the
// connection drops).
func (t SSHTarget) SSHArgv(tty bool, remote string) []string {
	argv := []string{orDefault(t.SSH, "ssh")}
	if t.ConfigFile != "" {
		argv = append(argv, "-F", t.ConfigFile)
	}
	if t.Port != 0 {
		argv = append(argv, "-p", strconv.Itoa(t.Port))
	}
	argv = append(argv, t.Options...)
	if tty {
		argv = append(argv, "-tt")
	}
	argv = append(argv, t.Host)
	if remote != "" {
		argv = append(argv, remote)
	}
	return argv
}

// SCPArgv returns the scp command line copying src to dst (either may be
// "host:path"), preserving modes.
func (t SSHTarget) SCPArgv(src, dst string) []string {
	argv := []string{orDefault(t.SCP, "scp"), "-q", "-p"}
	if t.ConfigFile != "" {
		argv = append(argv, "-F", t.ConfigFile)
	}
	if t.Port != 0 {
		argv = append(argv, "-P", strconv.Itoa(t.Port))
	}
	argv = append(argv, t.Options...)
	return append(argv, src, dst)
}

// remote returns "host:path" for scp.
func (t SSHTarget) remote(p string) string { return t.Host + ":" + p }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// SSHEngineSpec describes the engines on one ssh host.
type SSHEngineSpec struct {
	Target SSHTarget
	// IDs are the engine ids to start there, one ssh connection each.
	IDs []int
	// Binary is the local pxsh; ShipBinary copies it to RemoteDir/pxsh.
	Binary     string
	ShipBinary bool
	// RemoteBinary is pxsh on the host when not shipped ("pxsh" if empty).
	RemoteBinary string
	// RemoteDir receives the connection file.
	RemoteDir string
	// ConnFile is the local engine connection file to copy.
	ConnFile string
	// EngineArgs are extra engine arguments.
	EngineArgs []string
	// Runner runs mkdir/scp; nil uses ExecRunner.
	Runner Runner
	// Proc supplies process settings for the ssh clients (Output,
	// DieWithParent, Grace...).
	Proc ProcessSpec
}

// SSHEngines is a Launcher for the engines on one host: it copies the
// connection file (and optionally the binary) with scp, then keeps one
// ssh connection per engine. Engines run with --exit-on-stdin-eof and the
// ssh client's stdin stays open, so they end when the connection drops.
// It is safe for concurrent use.
type SSHEngines struct {
	spec  SSHEngineSpec
	group *Group
	procs []*Process
	mu    sync.Mutex
}

// NewSSHEngines returns the launcher for spec.
func NewSSHEngines(spec SSHEngineSpec) *SSHEngines {
	if spec.Runner == nil {
		spec.Runner = ExecRunner{}
	}
	s := &SSHEngines{spec: spec}
	members := make([]Launcher, len(spec.IDs))
	for i, id := range spec.IDs {
		ps := spec.Proc
		ps.Kind, ps.Role, ps.ID, ps.Host = "ssh", "engines", id, spec.Target.Host
		ps.KeepStdin = true
		argv := spec.Target.SSHArgv(false, s.RemoteCommand(id))
		ps.Path, ps.Args = argv[0], argv[1:]
		p := NewProcess(ps)
		prefix := spec.Target.SSHArgv(false, "")
		ps.OnLine = func(line string) {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, remotePIDPrefix) {
				if pid, err := strconv.Atoi(strings.TrimPrefix(line, remotePIDPrefix)); err == nil {
					p.setRemote(pid, prefix)
				}
			}
		}
		p.spec.OnLine = ps.OnLine
		s.procs = append(s.procs, p)
		members[i] = p
	}
	s.group = NewGroup(members...)
	return s
}

func (s *SSHEngines) remoteBinary() string {
	if s.spec.ShipBinary {
		return path.Join(s.spec.RemoteDir, "pxsh")
	}
	return orDefault(s.spec.RemoteBinary, "pxsh")
}

func (s *SSHEngines) remoteConn() string { return path.Join(s.spec.RemoteDir, "pxsh-engine.json") }

// RemoteCommand returns the shell command run on the host for engine id.
func (s *SSHEngines) RemoteCommand(id int) string {
	argv := append([]string{s.remoteBinary(), "engine", "--file", s.remoteConn(), "--id", strconv.Itoa(id), "--exit-on-stdin-eof"}, s.spec.EngineArgs...)
	return "echo " + remotePIDPrefix + "$$; exec " + shellJoin(argv)
}

// PrepareCommands returns the commands Start runs before the engines:
// mkdir of an incoming directory, one scp of the connection file (and of
// the binary), and a rename into RemoteDir. The rename matters when
// hosts share a file system: overwriting a running executable fails
// with "text file busy", renaming over it does not.
func (s *SSHEngines) PrepareCommands() [][]string {
	t := s.spec.Target
	in := path.Join(s.spec.RemoteDir, ".incoming-"+sanitize(hostOf(t.Host)))
	cp := []string{s.spec.ConnFile}
	mv := "mv -f " + shellQuote(path.Join(in, path.Base(s.spec.ConnFile))) + " " + shellQuote(s.remoteConn())
	if s.spec.ShipBinary {
		cp = append(cp, s.spec.Binary)
		mv += " && mv -f " + shellQuote(path.Join(in, path.Base(s.spec.Binary))) + " " + shellQuote(s.remoteBinary())
	}
	scp := t.SCPArgv("", "")
	scp = append(scp[:len(scp)-2], append(cp, t.remote(in+"/"))...)
	return [][]string{
		t.SSHArgv(false, "mkdir -p "+shellQuote(in)),
		scp,
		t.SSHArgv(false, mv+" && rmdir "+shellQuote(in)),
	}
}

// Start copies the files and starts the ssh connections.
func (s *SSHEngines) Start(ctx context.Context) error {
	if s.group.State() != StateBefore {
		return ErrStarted
	}
	for _, argv := range s.PrepareCommands() {
		if _, err := s.spec.Runner.Run(ctx, nil, argv...); err != nil {
			return fmt.Errorf("ssh engines on %s: %w", s.spec.Target.Host, err)
		}
	}
	return s.group.Start(ctx)
}

// Stop closes the connections (engines see EOF and exit), then signals
// the ssh clients.
func (s *SSHEngines) Stop(ctx context.Context) error { return s.group.Stop(ctx) }

// Signal signals the local ssh clients.
func (s *SSHEngines) Signal(sig syscall.Signal) error { return s.group.Signal(sig) }

// Wait returns a channel closed when every connection has ended.
func (s *SSHEngines) Wait() <-chan struct{} { return s.group.Wait() }

// Exit reports the first unexpected end of a connection.
func (s *SSHEngines) Exit() Exit { return s.group.Exit() }

// State reports the life-cycle state.
func (s *SSHEngines) State() State { return s.group.State() }

// Members returns one launcher per engine.
func (s *SSHEngines) Members() []*Process { return s.procs }

// Record describes the ssh clients and the remote pids.
func (s *SSHEngines) Record() Record {
	r := s.group.Record()
	r.Kind, r.Role = "ssh", "engines"
	if len(s.spec.IDs) > 0 {
		r.FirstID, r.N = s.spec.IDs[0], len(s.spec.IDs)
	}
	return r
}

// SSHControllerSpec describes a controller started over ssh.
type SSHControllerSpec struct {
	Target SSHTarget
	// RemoteBinary is pxsh on the host ("pxsh" if empty); with ShipBinary
	// Binary is copied to RemoteDir/pxsh first.
	Binary, RemoteBinary string
	ShipBinary           bool
	// RemoteDir is the remote profile directory.
	RemoteDir string
	// Args are the controller flags after --profile-dir (--ip...).
	Args []string
	// LocalSecurityDir receives the connection files.
	LocalSecurityDir string
	Runner           Runner
	Proc             ProcessSpec
}

// SSHController is a Launcher for a controller on another host: `ssh -tt
// host pxsh controller ...` (the controller gets SIGHUP when the
// connection drops); Fetch copies its connection files back.
type SSHController struct {
	*Process
	spec SSHControllerSpec
}

// NewSSHController returns the launcher for spec.
func NewSSHController(spec SSHControllerSpec) *SSHController {
	if spec.Runner == nil {
		spec.Runner = ExecRunner{}
	}
	bin := orDefault(spec.RemoteBinary, "pxsh")
	if spec.ShipBinary {
		bin = path.Join(spec.RemoteDir, "pxsh")
	}
	argv := append([]string{bin, "controller", "--profile-dir", spec.RemoteDir}, spec.Args...)
	remote := "echo " + remotePIDPrefix + "$$; exec " + shellJoin(argv)
	ps := spec.Proc
	ps.Kind, ps.Role, ps.ID, ps.Host, ps.KeepStdin = "ssh", "controller", -1, spec.Target.Host, true
	full := spec.Target.SSHArgv(true, remote)
	ps.Path, ps.Args = full[0], full[1:]
	c := &SSHController{spec: spec}
	prefix := spec.Target.SSHArgv(false, "")
	ps.OnLine = func(line string) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, remotePIDPrefix) {
			if pid, err := strconv.Atoi(strings.TrimPrefix(line, remotePIDPrefix)); err == nil {
				c.setRemote(pid, prefix)
			}
		}
	}
	c.Process = NewProcess(ps)
	return c
}

// Start prepares the remote directory (and binary) and starts ssh.
func (c *SSHController) Start(ctx context.Context) error {
	t := c.spec.Target
	cmds := [][]string{t.SSHArgv(false, "mkdir -p "+shellQuote(path.Join(c.spec.RemoteDir, "security")))}
	if c.spec.ShipBinary {
		tmp := path.Join(c.spec.RemoteDir, "pxsh.tmp-"+sanitize(hostOf(t.Host)))
		cmds = append(cmds, t.SCPArgv(c.spec.Binary, t.remote(tmp)),
			t.SSHArgv(false, "mv -f "+shellQuote(tmp)+" "+shellQuote(path.Join(c.spec.RemoteDir, "pxsh"))))
	}
	for _, argv := range cmds {
		if _, err := c.spec.Runner.Run(ctx, nil, argv...); err != nil {
			return fmt.Errorf("ssh controller on %s: %w", t.Host, err)
		}
	}
	return c.Process.Start(ctx)
}

// Fetch copies the controller's connection files to the local security
// directory; it fails until the controller has written them. Each file
// is copied beside its place and renamed into it, so an engine starting
// meanwhile reads the old file or the new one, never half of one.
func (c *SSHController) Fetch(ctx context.Context) error {
	t := c.spec.Target
	for _, f := range []string{"pxsh-client.json", "pxsh-engine.json"} {
		src := t.remote(path.Join(c.spec.RemoteDir, "security", f))
		dst := filepath.Join(c.spec.LocalSecurityDir, f)
		tf, err := os.CreateTemp(c.spec.LocalSecurityDir, ".fetch-*-"+f) // its own: fetches may overlap
		if err != nil {
			return fmt.Errorf("fetch connection file from %s: %w", t.Host, err)
		}
		tf.Close()
		tmp := tf.Name()
		if _, err := c.spec.Runner.Run(ctx, nil, t.SCPArgv(src, tmp)...); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("fetch connection file from %s: %w", t.Host, err)
		}
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("fetch connection file from %s: %w", t.Host, err)
		}
	}
	return nil
}
