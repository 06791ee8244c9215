package program

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/pxsh/pxsh/launcher"
	"github.com/pxsh/pxsh/profile"
)

// clusterEnv is what the `pxsh cluster` and `pxsh profile` subprograms get
// from the program layer.
type clusterEnv struct {
	// Stdout and Stderr receive output.
	Stdout, Stderr io.Writer
	// Getenv reads the environment (os.Getenv).
	Getenv func(string) string
	// Binary is the pxsh program to launch ("" means os.Executable()).
	Binary string
	// WaitEngines waits until n engines registered with the controller
	// of the client connection file connFile, and returns how many did
	// (program/cluster.go dials with the client). nil makes --wait fail.
	WaitEngines func(ctx context.Context, connFile string, n int) (int, error)
	// CheckAllow validates an --allow grant before anything starts
	// (hostlib's grant parser); nil leaves the check to the engines.
	CheckAllow func(spec string) error
}

// Exit codes of `pxsh cluster`, as ipcluster's.
const (
	exitOK             = 0
	exitError          = 1
	exitUsage          = 2
	exitAlreadyStarted = 10
	exitAlreadyStopped = 11
	exitNoCluster      = 12
)

// supervisorFlag is the internal flag a daemonized `cluster start` runs
// its detached copy with.
const supervisorFlag = "--x-supervise"

const clusterUsage = `usage:
  pxsh cluster start [-n N] [--engines local|mpi|slurm|pbs|sge|lsf|ssh] [--controller local|slurm|pbs|sge|lsf|ssh]
                     [--profile NAME] [--daemonize] [--wait] [--restart-engines] [--hosts h1:2,h2:2]
                     [--ssh-config F] [--ship-binary] [--ip IP] [--location HOST] [--local-only]
                     [--allow sh,env,fs=/scratch:/data] [--dashboard ADDR|off]
  pxsh cluster engines -n M [--profile NAME] [--engines X] [--wait] [--allow CAPS]
  pxsh cluster stop [--profile NAME] [--all]
  pxsh cluster list
  pxsh cluster clean [--profile NAME] [--all]
`

// clusterCLI runs `pxsh cluster ARGS` and returns the exit status.
func clusterCLI(ctx context.Context, args []string, env clusterEnv) int {
	env = env.withDefaults()
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, clusterUsage)
		return exitUsage
	}
	switch args[0] {
	case "start":
		return clusterStart(ctx, args[1:], env)
	case "engines":
		return clusterEngines(ctx, args[1:], env)
	case "stop":
		return clusterStop(ctx, args[1:], env)
	case "list":
		return clusterList(args[1:], env)
	case "clean":
		return clusterClean(args[1:], env)
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, clusterUsage)
		return exitOK
	}
	fmt.Fprintf(env.Stderr, "pxsh cluster: unknown command %q\n%s", args[0], clusterUsage)
	return exitUsage
}

func (e clusterEnv) withDefaults() clusterEnv {
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if e.Getenv == nil {
		e.Getenv = func(string) string { return "" }
	}
	if e.Binary == "" {
		e.Binary, _ = os.Executable()
	}
	return e
}

// startFlags are the flags of start and engines.
type startFlags struct {
	fs                                               *flag.FlagSet
	n, perProcess                                    int
	engines, controller, profileName, profileDir     string
	hosts, sshConfig, ip, location, controllerHost   string
	mpiexec, mpiArgs, allow, dashboard               string
	daemonize, wait, restart, ship, localOnly, super bool
	timeout                                          time.Duration
}

func newStartFlags(name string, env clusterEnv) *startFlags {
	f := &startFlags{fs: flag.NewFlagSet("pxsh cluster "+name, flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(env.Stderr)
	fs.IntVar(&f.n, "n", 0, "number of engines (default: config file, else the number of CPUs)")
	fs.IntVar(&f.perProcess, "engines-per-process", 0, "run `K` engines in each engine process (pxsh engine --count K; local, MPI and batch launchers)")
	fs.StringVar(&f.engines, "engines", "", "engine launcher: local, mpi, slurm, pbs, sge, lsf or ssh")
	fs.StringVar(&f.controller, "controller", "", "controller launcher: local, slurm, pbs, sge, lsf or ssh")
	fs.StringVar(&f.profileName, "profile", "", "profile name (default \"default\")")
	fs.StringVar(&f.profileDir, "profile-dir", "", "profile directory (overrides --profile)")
	fs.BoolVar(&f.wait, "wait", false, "return once the engines registered, or fail naming those that did not")
	fs.DurationVar(&f.timeout, "timeout", 120*time.Second, "how long --wait waits")
	fs.BoolVar(&f.restart, "restart-engines", false, "restart local and MPI engines that die, with their old ids")
	fs.StringVar(&f.hosts, "hosts", "", "ssh engine hosts: host[:count],...")
	fs.StringVar(&f.sshConfig, "ssh-config", "", "ssh config file (-F)")
	fs.BoolVar(&f.ship, "ship-binary", false, "copy the pxsh binary to ssh hosts")
	fs.StringVar(&f.ip, "ip", "", "address the controller listens on")
	fs.StringVar(&f.location, "location", "", "host name or address written into connection files")
	fs.BoolVar(&f.localOnly, "local-only", false, "every engine runs on this host (loopback addresses are fine)")
	fs.StringVar(&f.controllerHost, "controller-host", "", "host of an ssh controller")
	fs.StringVar(&f.mpiexec, "mpiexec", "", "mpiexec program")
	fs.StringVar(&f.mpiArgs, "mpi-args", "", "extra mpiexec arguments (space separated)")
	fs.StringVar(&f.allow, "allow", "", "host `capabilities` of the engines: sh, env, fs=ROOT:ROOT (comma-separated; default: config file, else none)")
	if name == "start" {
		fs.StringVar(&f.dashboard, "dashboard", "", "controller's web dashboard `address` (host:port; default a free loopback port), or off")
		fs.BoolVar(&f.daemonize, "daemonize", false, "run the cluster in the background and return")
		fs.BoolVar(&f.super, strings.TrimPrefix(supervisorFlag, "--"), false, "internal: run as the detached supervisor")
	}
	return f
}

// dir returns the profile directory the flags name.
func (f *startFlags) dir(env clusterEnv) string {
	if f.profileDir != "" {
		return f.profileDir
	}
	return profile.Dir(profile.Root(env.Getenv), f.profileName)
}

// config builds the Config: defaults, then the profile's config file,
// then the flags that were given.
func (f *startFlags) config(env clusterEnv) (launcher.Config, *launcher.FileSettings, error) {
	dir := f.dir(env)
	cfg := launcher.Config{ProfileDir: dir, Binary: env.Binary, N: runtime.NumCPU()}
	fset, err := launcher.LoadConfigFile(filepath.Join(dir, profile.ConfigFile), &cfg)
	if err != nil {
		return cfg, nil, err
	}
	// the controller's own settings travel as its flags
	for _, name := range fset.Set {
		switch name {
		case "scheme":
			cfg.ControllerArgs = append(cfg.ControllerArgs, "--scheme", fset.Scheme)
		case "hwm":
			cfg.ControllerArgs = append(cfg.ControllerArgs, "--hwm", fmt.Sprint(fset.HWM))
		}
	}
	var ferr error
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "n":
			cfg.N = f.n
		case "engines-per-process":
			cfg.EnginesPerProcess = f.perProcess
		case "engines":
			cfg.Engines = f.engines
		case "controller":
			cfg.Controller = f.controller
		case "restart-engines":
			cfg.RestartEngines = f.restart
		case "hosts":
			hs, err := launcher.ParseHosts(f.hosts)
			if err != nil {
				ferr = err
			}
			cfg.SSH.Hosts = hs
		case "ssh-config":
			cfg.SSH.ConfigFile = f.sshConfig
		case "ship-binary":
			cfg.SSH.ShipBinary = f.ship
		case "ip":
			cfg.IP = f.ip
		case "location":
			cfg.Location = f.location
		case "local-only":
			cfg.LocalOnly = f.localOnly
		case "controller-host":
			cfg.SSH.ControllerHost = f.controllerHost
		case "mpiexec":
			cfg.MPI.Command = f.mpiexec
		case "mpi-args":
			cfg.MPI.Args = strings.Fields(f.mpiArgs)
		case "allow":
			cfg.Allow = f.allow
		case "dashboard":
			cfg.ControllerArgs = append(cfg.ControllerArgs, "--dashboard", f.dashboard)
		}
	})
	if ferr == nil && cfg.Allow != "" && env.CheckAllow != nil {
		ferr = env.CheckAllow(cfg.Allow)
	}
	return cfg, fset, ferr
}

func clusterStart(ctx context.Context, args []string, env clusterEnv) int {
	f := newStartFlags("start", env)
	if err := f.fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, _, err := f.config(env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pxsh cluster start: %v\n", err)
		return exitError
	}
	dir := cfg.ProfileDir
	if st, err := launcher.ReadState(dir); err == nil && st.Running() {
		fmt.Fprintf(env.Stderr, "pxsh cluster start: a cluster is already running in %s (stop it with `pxsh cluster stop`)\n", dir)
		return exitAlreadyStarted
	}
	if f.daemonize && !f.super {
		return daemonize(ctx, args, cfg, f, env)
	}
	// foreground or detached supervisor: children outlive a supervisor
	// that dies (`pxsh cluster stop` stops them from the records)
	cfg.DieWithLauncher = false
	cfg.Logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	c, err := launcher.New(cfg)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pxsh cluster start: %v\n", err)
		return exitError
	}
	go func() {
		for {
			select {
			case e := <-c.Events():
				fmt.Fprintf(env.Stderr, "pxsh cluster: %s\n", e)
			case <-c.Done():
				return
			}
		}
	}()
	stopAll := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 4*launcher.DefaultGrace)
		defer cancel()
		if err := c.Stop(sctx); err != nil {
			fmt.Fprintf(env.Stderr, "pxsh cluster: stop: %v\n", err)
		}
	}
	if err := c.StartController(sctx); err != nil {
		fmt.Fprintf(env.Stderr, "pxsh cluster start: %v\n", err)
		stopAll()
		return exitError
	}
	if err := c.SetSupervisor(); err != nil {
		fmt.Fprintf(env.Stderr, "pxsh cluster start: %v\n", err)
	}
	if cfg.N > 0 {
		if _, err := c.StartEngines(sctx, cfg.N); err != nil {
			fmt.Fprintf(env.Stderr, "pxsh cluster start: %v\n", err)
			stopAll()
			return exitError
		}
	}
	if _, err := c.WaitConnection(sctx); err != nil {
		fmt.Fprintf(env.Stderr, "pxsh cluster start: %v\n", err)
		stopAll()
		return exitError
	}
	if !f.super {
		if f.wait {
			if err := waitEngines(sctx, c.ClientFile(), cfg.N, f.timeout, env, c.Pending); err != nil {
				fmt.Fprintf(env.Stderr, "pxsh cluster start: %v\n", err)
				stopAll()
				return exitError
			}
		}
		fmt.Fprintf(env.Stdout, "cluster started in %s with %d %s engines%s (Ctrl-C stops it)\n", dir, cfg.N, cfg.Engines, allowNote(cfg.Allow))
	}
	select {
	case <-sctx.Done():
	case <-c.ControllerDone():
		fmt.Fprintf(env.Stderr, "pxsh cluster: the controller ended and was not restarted; stopping the engines\n")
		stopAll()
		return exitError
	}
	stopAll()
	return exitOK
}

// waitEngines waits for n engines and, on failure, names the launchers
// that did not deliver.
func waitEngines(ctx context.Context, connFile string, n int, timeout time.Duration, env clusterEnv, pending func() []string) error {
	if env.WaitEngines == nil {
		return fmt.Errorf("wait for engines: not available in this build")
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	got, err := env.WaitEngines(wctx, connFile, n)
	if err == nil && got >= n {
		return nil
	}
	msg := fmt.Sprintf("wait for engines: %d of %d registered", got, n)
	if err != nil {
		msg += ": " + err.Error()
	}
	if p := pending(); len(p) > 0 {
		msg += "; " + strings.Join(p, "; ")
	}
	return errors.New(msg)
}

// daemonize re-runs `pxsh cluster start` detached (setsid, output to
// log/cluster.log) and returns once it runs (and, with --wait, once the
// engines registered).
func daemonize(ctx context.Context, args []string, cfg launcher.Config, f *startFlags, env clusterEnv) int {
	dir := cfg.ProfileDir
	if err := os.MkdirAll(filepath.Join(dir, "log"), 0o700); err != nil {
		fmt.Fprintf(env.Stderr, "pxsh cluster start: %v\n", err)
		return exitError
	}
	var child []string
	for _, a := range args {
		switch strings.TrimLeft(a, "-") {
		case "daemonize", "daemonize=true", "wait", "wait=true":
			continue
		}
		child = append(child, a)
	}
	if f.profileDir == "" {
		child = append(child, "--profile-dir", dir)
	}
	child = append([]string{"cluster", "start"}, append(child, supervisorFlag)...)
	logPath := filepath.Join(dir, "log", "cluster.log")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pxsh cluster start: %v\n", err)
		return exitError
	}
	defer out.Close()
	cmd := exec.Command(cfg.Binary, child...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(env.Stderr, "pxsh cluster start: daemonize: %v\n", err)
		return exitError
	}
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	// wait for the supervisor to record itself and the controller to
	// write its connection file
	deadline := time.Now().Add(cfg.StartupTimeout())
	for {
		st, err := launcher.ReadState(dir)
		if err == nil && st.Supervisor != nil && st.Supervisor.PID == pid {
			if _, err := profile.Read(profile.ConnectionPath(dir, false)); err == nil {
				break
			}
		}
		select {
		case <-exited:
			fmt.Fprintf(env.Stderr, "pxsh cluster start: the cluster exited during start-up; see %s:\n%s", logPath, tail(logPath, 20))
			return exitError
		case <-ctx.Done():
			syscall.Kill(pid, syscall.SIGTERM)
			return exitError
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(env.Stderr, "pxsh cluster start: the cluster did not come up within %v; see %s\n", cfg.StartupTimeout(), logPath)
			syscall.Kill(pid, syscall.SIGTERM)
			return exitError
		}
	}
	if f.wait {
		pending := func() []string { return launcher.PendingEngines(ctx, dir) }
		if err := waitEngines(ctx, profile.ConnectionPath(dir, false), cfg.N, f.timeout, env, pending); err != nil {
			select {
			case <-exited:
			case <-time.After(time.Second):
			}
			select {
			case <-exited:
				fmt.Fprintf(env.Stderr, "pxsh cluster start: %v; the cluster stopped, see %s:\n%s", err, logPath, tail(logPath, 20))
			default:
				fmt.Fprintf(env.Stderr, "pxsh cluster start: %v (the cluster keeps running; `pxsh cluster stop` stops it)\n", err)
			}
			return exitError
		}
	}
	fmt.Fprintf(env.Stdout, "cluster started in %s (supervisor pid %d, log %s)\n", dir, pid, logPath)
	return exitOK
}

// allowNote describes a grant for the start message.
func allowNote(allow string) string {
	if allow == "" {
		return ""
	}
	return " allowed " + allow
}

// flagSet reports whether the flag name was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

func clusterEngines(ctx context.Context, args []string, env clusterEnv) int {
	f := newStartFlags("engines", env)
	if err := f.fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, _, err := f.config(env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pxsh cluster engines: %v\n", err)
		return exitError
	}
	dir := cfg.ProfileDir
	st, err := launcher.ReadState(dir)
	if err != nil || !st.Running() {
		fmt.Fprintf(env.Stderr, "pxsh cluster engines: no running cluster in %s\n", dir)
		return exitNoCluster
	}
	if f.n <= 0 {
		fmt.Fprintf(env.Stderr, "pxsh cluster engines: -n M is required\n")
		return exitUsage
	}
	before := st.EngineCount()
	if !flagSet(f.fs, "allow") && st.Allow != "" {
		cfg.Allow = st.Allow // new engines get the cluster's grant
	}
	// these engines outlive this command; `pxsh cluster stop` stops them
	cfg.Detach, cfg.DieWithLauncher, cfg.N = true, false, f.n
	c, err := launcher.New(cfg)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pxsh cluster engines: %v\n", err)
		return exitError
	}
	ids, err := c.StartEngines(ctx, f.n)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pxsh cluster engines: %v\n", err)
		return exitError
	}
	if f.wait {
		if err := waitEngines(ctx, c.ClientFile(), before+f.n, f.timeout, env, c.Pending); err != nil {
			fmt.Fprintf(env.Stderr, "pxsh cluster engines: %v\n", err)
			return exitError
		}
	}
	fmt.Fprintf(env.Stdout, "started %d %s engines (ids %s)\n", len(ids), cfg.Engines, idRange(ids))
	return exitOK
}

func idRange(ids []int) string {
	if len(ids) == 0 {
		return "none"
	}
	if ids[len(ids)-1]-ids[0] == len(ids)-1 {
		if len(ids) == 1 {
			return fmt.Sprint(ids[0])
		}
		return fmt.Sprintf("%d-%d", ids[0], ids[len(ids)-1])
	}
	return strings.Trim(fmt.Sprint(ids), "[]")
}

// profileDirs returns every profile directory under root.
func profileDirs(root string) []string { return launcher.ProfileDirs(root) }

func profileName(dir string) string { return launcher.ProfileName(dir) }

func selectFlags(name string, env clusterEnv) (*flag.FlagSet, *string, *string, *bool) {
	fs := flag.NewFlagSet("pxsh cluster "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	p := fs.String("profile", "", "profile name (default \"default\")")
	pd := fs.String("profile-dir", "", "profile directory")
	all := fs.Bool("all", false, "every profile")
	return fs, p, pd, all
}

func targets(env clusterEnv, p, pd string, all bool) []string {
	if all {
		return profileDirs(profile.Root(env.Getenv))
	}
	if pd != "" {
		return []string{pd}
	}
	return []string{profile.Dir(profile.Root(env.Getenv), p)}
}

func clusterStop(ctx context.Context, args []string, env clusterEnv) int {
	fs, p, pd, all := selectFlags("stop", env)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	code, stopped := exitOK, 0
	for _, dir := range targets(env, *p, *pd, *all) {
		err := launcher.StopProfile(ctx, dir, launcher.ExecRunner{}, 0)
		switch {
		case errors.Is(err, launcher.ErrNoCluster):
			if !*all {
				fmt.Fprintf(env.Stderr, "pxsh cluster stop: no cluster in profile %s\n", profileName(dir))
				code = exitAlreadyStopped
			}
		case err != nil:
			fmt.Fprintf(env.Stderr, "pxsh cluster stop: profile %s: %v\n", profileName(dir), err)
			code = exitError
		default:
			stopped++
			fmt.Fprintf(env.Stdout, "stopped cluster in profile %s\n", profileName(dir))
		}
	}
	if *all && stopped == 0 && code == exitOK {
		fmt.Fprintf(env.Stdout, "no cluster to stop\n")
	}
	return code
}

func clusterList(args []string, env clusterEnv) int {
	fs, _, _, _ := selectFlags("list", env)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	fmt.Fprintf(env.Stdout, "%-16s %-32s %-7s %-7s %-8s %-12s %s\n", "PROFILE", "CLUSTER ID", "RUNNING", "ENGINES", "LAUNCHER", "ALLOW", "DASHBOARD")
	for _, dir := range profileDirs(profile.Root(env.Getenv)) {
		st, err := launcher.ReadState(dir)
		if err != nil {
			continue
		}
		running := "False"
		if st.Running() {
			running = "True"
		}
		id := st.ClusterID
		if id == "" {
			id = "-"
		}
		allow := st.Allow
		if allow == "" {
			allow = "-"
		}
		dash := "-"
		if d, err := profile.ReadDashboard(dir); err == nil && st.Running() {
			dash = d.URL
		}
		fmt.Fprintf(env.Stdout, "%-16s %-32s %-7s %-7d %-8s %-12s %s\n", profileName(dir), id, running, st.EngineCount(), st.Engines, allow, dash)
	}
	return exitOK
}

func clusterClean(args []string, env clusterEnv) int {
	fs, p, pd, all := selectFlags("clean", env)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	code := exitOK
	for _, dir := range targets(env, *p, *pd, *all) {
		removed, errs := launcher.CleanProfile(dir)
		for _, err := range errs {
			if errors.Is(err, launcher.ErrClusterRunning) {
				fmt.Fprintf(env.Stderr, "pxsh cluster clean: profile %s: a cluster is running; stop it first\n", profileName(dir))
			} else {
				fmt.Fprintf(env.Stderr, "pxsh cluster clean: %v\n", err)
			}
			code = exitError
		}
		if len(removed) > 0 {
			fmt.Fprintf(env.Stdout, "cleaned profile %s: removed %s\n", profileName(dir), strings.Join(removed, ", "))
		}
	}
	return code
}
