package launcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pxsh/pxsh/profile"
)

// Event reports something the supervisor noticed.
type Event struct {
	Time time.Time
	// Kind is "engine-exit", "controller-exit", "restart" or
	// "restart-failed".
	Kind string
	// What describes the launcher ("local engine 3 (pid 123)").
	What string
	// IDs are the engine ids concerned.
	IDs []int
	// Exit is how the launcher ended (exits only).
	Exit Exit
	// Err is set for "restart-failed".
	Err error
}

func (e Event) String() string {
	switch e.Kind {
	case "restart":
		return "restarted " + e.What
	case "restart-failed":
		return fmt.Sprintf("restart %s: %v", e.What, e.Err)
	}
	return fmt.Sprintf("%s ended unexpectedly: %s", e.What, e.Exit)
}

// maxRestarts bounds the restarts of one engine id; an engine that ran
// for stableAfter starts counting afresh. Restarts after the first wait
// 0.5 s, 1 s, 2 s, 4 s: the controller refuses an id until it has noticed
// that the engine holding it died (a few seconds without heartbeat).
const (
	maxRestarts  = 5
	stableAfter  = time.Minute
	restartDelay = 500 * time.Millisecond
)

// Cluster supervises one controller and its engines in a profile
// directory. It is safe for concurrent use.
type Cluster struct {
	cfg     Config
	dir     string
	tempDir bool
	run     Runner
	log     *slog.Logger
	events  chan Event

	mu         sync.Mutex
	controller Launcher
	engines    []*engineEntry
	conn       *profile.Connection
	stopping   bool
	restarts   map[int]int
	owner      int64 // marks this Cluster's records in cluster.json
	stopped    chan struct{}
	stopOnce   sync.Once
	stopErr    error
	// ctlStarted is when the current controller started; ctlRestarts
	// counts its restarts in a row; ctlGone is closed once the controller
	// ended for good.
	ctlStarted  time.Time
	ctlRestarts int
	ctlGone     chan struct{}
	ctlGoneOnce sync.Once
}

type engineEntry struct {
	l       Launcher
	started time.Time
	kind    string
	ids     []int
	mpi     *MPI
	spec    any // what it takes to start it again
}

// New checks cfg and returns a Cluster; nothing is started.
func New(cfg Config) (*Cluster, error) {
	if cfg.Engines == "" {
		cfg.Engines = "local"
	}
	if cfg.Controller == "" {
		cfg.Controller = "local"
	}
	if err := checkBackend(cfg.Engines, true); err != nil {
		return nil, err
	}
	if err := checkBackend(cfg.Controller, false); err != nil {
		return nil, err
	}
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("new cluster: %w", err)
		}
		cfg.Binary = exe
	}
	if abs, err := filepath.Abs(cfg.Binary); err == nil {
		cfg.Binary = abs
	}
	if cfg.Private {
		cfg.DieWithLauncher = true
	}
	if cfg.Allow != "" {
		cfg.EngineArgs = slices.Concat(cfg.EngineArgs, []string{"--allow", cfg.Allow})
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	c := &Cluster{cfg: cfg, run: cfg.Runner, log: cfg.Logger, events: make(chan Event, 64),
		restarts: map[int]int{}, stopped: make(chan struct{}), ctlGone: make(chan struct{}),
		owner: int64(os.Getpid())<<32 | rand.Int64N(1<<31)}
	if c.run == nil {
		c.run = ExecRunner{Env: cfg.Env}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.dir = cfg.ProfileDir
	if c.dir == "" {
		if !cfg.Private {
			return nil, fmt.Errorf("new cluster: no profile directory")
		}
		d, err := os.MkdirTemp("", "pxsh-private-*")
		if err != nil {
			return nil, fmt.Errorf("new cluster: %w", err)
		}
		c.dir, c.tempDir = d, true
	}
	if abs, err := filepath.Abs(c.dir); err == nil {
		c.dir = abs
	}
	if err := profile.Ensure(c.dir); err != nil {
		return nil, fmt.Errorf("new cluster: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(c.dir, "log"), 0o700); err != nil {
		return nil, fmt.Errorf("new cluster: %w", err)
	}
	return c, nil
}

func checkBackend(name string, engines bool) error {
	switch name {
	case "local", "slurm", "pbs", "sge", "lsf", "ssh":
		return nil
	case "mpi":
		if engines {
			return nil
		}
	}
	if engines {
		return fmt.Errorf("engine launcher %q: unknown (want local, mpi, slurm, pbs, sge, lsf or ssh)", name)
	}
	return fmt.Errorf("controller launcher %q: unknown (want local, slurm, pbs, sge, lsf or ssh)", name)
}

// ProfileDir returns the profile directory (a temporary one for a
// private cluster without ProfileDir).
func (c *Cluster) ProfileDir() string { return c.dir }

// ClientFile returns the client connection file path.
func (c *Cluster) ClientFile() string { return profile.ConnectionPath(c.dir, false) }

// EngineFile returns the engine connection file path.
func (c *Cluster) EngineFile() string { return profile.ConnectionPath(c.dir, true) }

// Events returns the channel of supervision events. Events are dropped
// (and logged) when nobody reads them.
func (c *Cluster) Events() <-chan Event { return c.events }

// ControllerDone returns a channel closed when the controller has ended
// for good: stopped, or ended unexpectedly and not restarted (only a local
// controller is restarted, at most maxRestarts times in a row).
func (c *Cluster) ControllerDone() <-chan struct{} { return c.ctlGone }

func (c *Cluster) controllerGone() { c.ctlGoneOnce.Do(func() { close(c.ctlGone) }) }

// Done returns a channel closed when Stop has finished.
func (c *Cluster) Done() <-chan struct{} { return c.stopped }

// remote reports whether engines may run on other hosts.
func (c *Cluster) remote() bool {
	if c.cfg.LocalOnly {
		return false
	}
	if c.cfg.Controller != "local" {
		return true
	}
	switch c.cfg.Engines {
	case "local":
		return false
	case "mpi":
		return c.cfg.MPI.Hosts != ""
	}
	return true
}

func (c *Cluster) emit(e Event) {
	e.Time = time.Now()
	c.log.Warn(e.String(), "kind", e.Kind, "ids", e.IDs)
	select {
	case c.events <- e:
	default:
	}
}

func (c *Cluster) procSpec(role, output string) ProcessSpec {
	return ProcessSpec{Env: c.cfg.Env, Output: output, DieWithParent: c.cfg.DieWithLauncher,
		Detach: c.cfg.Detach, Grace: c.cfg.Grace, Role: role, ID: -1}
}

// controllerArgs returns the flags after `controller --profile-dir DIR`.
func (c *Cluster) controllerArgs() []string {
	ip, loc := c.cfg.IP, c.cfg.Location
	if c.remote() {
		if ip == "" {
			ip = "0.0.0.0"
		}
		if loc == "" {
			loc, _ = os.Hostname()
		}
	}
	// the supervisor records the controller: it must not record itself
	args := []string{"--x-supervised"}
	if ip != "" {
		args = append(args, "--ip", ip)
	}
	if loc != "" {
		args = append(args, "--location", loc)
	}
	return append(args, c.cfg.ControllerArgs...)
}

// Start starts the controller and cfg.N engines and records them. With
// Private, cancelling ctx later stops everything.
func (c *Cluster) Start(ctx context.Context) error {
	if err := c.StartController(ctx); err != nil {
		return err
	}
	if c.cfg.N > 0 {
		if _, err := c.StartEngines(ctx, c.cfg.N); err != nil {
			c.Stop(context.WithoutCancel(ctx))
			return err
		}
	}
	return nil
}

// StartController starts the controller (after removing stale
// connection files) and records it in cluster.json.
func (c *Cluster) StartController(ctx context.Context) error {
	c.mu.Lock()
	if c.controller != nil {
		c.mu.Unlock()
		return ErrStarted
	}
	c.mu.Unlock()
	if st, err := ReadState(c.dir); err == nil && st.Running() {
		return fmt.Errorf("start cluster in %s: a cluster is already running (supervisor or processes recorded in %s); stop it first", c.dir, StatePath(c.dir))
	}
	for _, f := range []string{c.EngineFile(), c.ClientFile()} {
		os.Remove(f)
	}
	if err := c.startController(ctx, false); err != nil {
		return err
	}
	c.save(func(s *ClusterState) { s.Started = time.Now() })
	if c.cfg.Private {
		go func() {
			select {
			case <-ctx.Done():
				c.Stop(context.Background())
			case <-c.stopped:
			}
		}()
	}
	return nil
}

// startController starts a controller (restoring the previous one's
// port, keys and tasks with restore), records it and watches it.
func (c *Cluster) startController(ctx context.Context, restore bool) error {
	l, err := c.newController(restore)
	if err != nil {
		return err
	}
	if err := l.Start(ctx); err != nil {
		return fmt.Errorf("start controller: %w", err)
	}
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		l.Stop(context.WithoutCancel(ctx))
		return fmt.Errorf("start controller: the cluster is stopping")
	}
	c.controller, c.ctlStarted = l, time.Now()
	c.mu.Unlock()
	if err := c.save(nil); err != nil {
		l.Stop(context.WithoutCancel(ctx))
		return err
	}
	go c.watchController(l)
	return nil
}

func (c *Cluster) newController(restore bool) (Launcher, error) {
	args := append([]string{"controller", "--profile-dir", c.dir}, c.controllerArgs()...)
	if restore {
		args = append(args, "--restore")
	}
	out := filepath.Join(c.dir, "log", "controller.log")
	switch c.cfg.Controller {
	case "local":
		ps := c.procSpec("controller", out)
		ps.Path, ps.Args = c.cfg.Binary, args
		return NewProcess(ps), nil
	case "ssh":
		if c.cfg.SSH.ControllerHost == "" {
			return nil, fmt.Errorf("start controller: ssh controller needs a host (controller_host / --controller-host)")
		}
		rdir := c.cfg.SSH.RemoteDir
		if rdir == "" {
			rdir = ".pxsh/remote-controller-" + filepath.Base(c.dir)
		}
		return NewSSHController(SSHControllerSpec{Target: targetFor(c.cfg.SSH, c.cfg.SSH.ControllerHost),
			Binary: c.cfg.Binary, RemoteBinary: c.cfg.SSH.RemoteBinary, ShipBinary: c.cfg.SSH.ShipBinary,
			RemoteDir: rdir, Args: c.controllerArgs(), LocalSecurityDir: profile.SecurityDir(c.dir),
			Runner: c.run, Proc: c.procSpec("controller", out)}), nil
	}
	sys, err := c.system()
	if err != nil {
		return nil, err
	}
	return NewBatch(BatchSpec{System: sys, Role: "controller", Template: c.cfg.Batch.ControllerTemplate,
		Data: TemplateData{N: 1, Queue: c.cfg.Batch.Queue, Account: c.cfg.Batch.Account, Walltime: c.cfg.Batch.Walltime,
			ProfileDir: c.dir, Output: out, Program: shellQuote(c.cfg.Binary), Args: shellJoin(args),
			Command: shellJoin(append([]string{c.cfg.Binary}, args...)),
			MPIExec: orDefault(c.cfg.Batch.MPIExec, "mpiexec")},
		Script: filepath.Join(c.dir, "log", "controller-"+c.cfg.Controller+".sh"), Runner: c.run,
		PollInterval: c.cfg.PollInterval, Grace: c.cfg.Grace})
}

// system returns the configured batch system with BatchConfig overrides.
func (c *Cluster) system() (System, error) {
	name := c.cfg.Engines
	if name == "local" || name == "mpi" || name == "ssh" {
		name = c.cfg.Controller
	}
	return systemFor(name, c.cfg.Batch)
}

func systemFor(name string, b BatchConfig) (System, error) {
	sys, err := SystemByName(name)
	if err != nil {
		return sys, err
	}
	if len(b.Submit) > 0 {
		sys.Submit = b.Submit
	}
	if len(b.Cancel) > 0 {
		sys.Cancel = b.Cancel
	}
	if len(b.Query) > 0 {
		sys.Query = b.Query
	}
	if b.JobIDRegexp != "" {
		sys.JobIDRegexp = b.JobIDRegexp
	}
	return sys, nil
}

// watchController reports a controller that ended unexpectedly and, for
// a local controller that failed (killed by a signal, non-zero exit),
// starts it again with --restore: same port, keys and certificate, so
// engines and clients reconnect and the tasks in flight are resumed
// (docs/DATABASE.md).
func (c *Cluster) watchController(l Launcher) {
	<-l.Wait()
	c.mu.Lock()
	stopping := c.stopping
	if !c.ctlStarted.IsZero() && time.Since(c.ctlStarted) > stableAfter {
		c.ctlRestarts = 0
	}
	c.ctlRestarts++
	attempt := c.ctlRestarts
	c.mu.Unlock()
	if stopping || l.Exit().Requested {
		c.controllerGone()
		return
	}
	ex := l.Exit()
	c.emit(Event{Kind: "controller-exit", What: l.Record().describe(), Exit: ex})
	// exit status 0 is a controller told to stop (a signal it handled,
	// rc.shutdown(hub=True)): not restarted
	clean := ex.Code == 0 && ex.Signal == 0 && ex.Err == nil
	if c.cfg.Controller != "local" || c.cfg.NoControllerRestart || clean {
		c.controllerGone()
		return
	}
	if attempt > maxRestarts {
		c.emit(Event{Kind: "restart-failed", What: "controller", Err: fmt.Errorf("gave up after %d restarts", maxRestarts)})
		c.controllerGone()
		return
	}
	if attempt > 1 {
		select {
		case <-time.After(restartDelay << (attempt - 2)):
		case <-c.stopped:
			c.controllerGone()
			return
		}
	}
	c.mu.Lock()
	stopping = c.stopping
	c.mu.Unlock()
	if stopping {
		c.controllerGone()
		return
	}
	if err := c.startController(context.Background(), true); err != nil {
		c.emit(Event{Kind: "restart-failed", What: "controller", Err: err})
		c.controllerGone()
		return
	}
	c.emit(Event{Kind: "restart", What: c.controllerRecord().describe() + " with --restore"})
}

func (c *Cluster) controllerRecord() Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.controller.Record()
}

// WaitConnection waits until the controller has written its engine
// connection file (fetching it for an ssh controller) and returns it. It
// fails if the controller ends first or after StartTimeout.
func (c *Cluster) WaitConnection(ctx context.Context) (*profile.Connection, error) {
	c.mu.Lock()
	if c.conn != nil {
		conn := c.conn
		c.mu.Unlock()
		return conn, nil
	}
	ctl := c.controller
	c.mu.Unlock()
	var fetcher interface{ Fetch(context.Context) error }
	ctlDone := make(<-chan struct{})
	if ctl != nil {
		fetcher, _ = ctl.(interface{ Fetch(context.Context) error })
		ctlDone = ctl.Wait()
	}
	deadline := time.Now().Add(c.cfg.StartTimeout)
	interval := 10 * time.Millisecond
	lastFetch := time.Time{}
	for {
		if fetcher != nil && time.Since(lastFetch) > 500*time.Millisecond {
			lastFetch = time.Now()
			fetcher.Fetch(ctx)
		}
		conn, err := profile.Read(c.EngineFile())
		if err == nil {
			c.mu.Lock()
			c.conn = conn
			c.mu.Unlock()
			c.save(func(s *ClusterState) { s.ClusterID = conn.ClusterID })
			return conn, nil
		}
		if !errors.Is(err, profile.ErrNoConnectionFile) && time.Since(lastFetch) > time.Second {
			c.log.Debug("connection file not ready", "err", err)
		}
		select {
		case <-ctlDone:
			return nil, fmt.Errorf("wait for connection file: controller ended: %s (see %s)", ctl.Exit(), filepath.Join(c.dir, "log", "controller.log"))
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for connection file: %w", ctx.Err())
		case <-time.After(interval):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("wait for connection file %s: controller did not write it within %v", c.EngineFile(), c.cfg.StartTimeout)
		}
		if interval < 50*time.Millisecond {
			interval *= 2
		}
	}
}

// StartEngines starts n more engines with the configured backend and
// returns their ids.
func (c *Cluster) StartEngines(ctx context.Context, n int) ([]int, error) {
	if n <= 0 {
		return nil, fmt.Errorf("start engines: n = %d", n)
	}
	needConn := c.cfg.Engines != "local" && !(c.cfg.Engines == "mpi" && c.cfg.MPI.Hosts == "")
	var conn *profile.Connection
	if needConn || c.remote() {
		var err error
		if conn, err = c.WaitConnection(ctx); err != nil {
			return nil, fmt.Errorf("start engines: %w", err)
		}
		if c.remote() {
			if err := CheckReachable(conn.Addresses, c.cfg.Engines); err != nil {
				return nil, fmt.Errorf("start engines: %w", err)
			}
		}
	}
	first, err := c.reserveIDs(n)
	if err != nil {
		return nil, err
	}
	entries, err := c.newEngines(ctx, first, n, conn)
	if err != nil {
		return nil, err
	}
	// start every launcher at once: ssh hosts are prepared in parallel
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.l.Start(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, e := range entries {
			e.l.Stop(context.WithoutCancel(ctx))
		}
		return nil, fmt.Errorf("start %s engines: %w", c.cfg.Engines, err)
	}
	var ids []int
	for _, e := range entries {
		e.started = time.Now()
		ids = append(ids, e.ids...)
	}
	c.mu.Lock()
	c.engines = append(c.engines, entries...)
	c.mu.Unlock()
	if err := c.save(nil); err != nil {
		c.log.Error("record engines", "err", err)
	}
	for _, e := range entries {
		go c.watchEngine(e)
	}
	c.log.Info("started engines", "backend", c.cfg.Engines, "ids", ids)
	return ids, nil
}

func (c *Cluster) reserveIDs(n int) (int, error) {
	first := 0
	err := updateState(c.dir, func(s *ClusterState) (*ClusterState, error) {
		if s == nil {
			s = &ClusterState{ProfileDir: c.dir, Started: time.Now()}
		}
		first = s.NextID
		s.NextID += n
		return s, nil
	})
	return first, err
}

func seq(first, n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = first + i
	}
	return ids
}

func (c *Cluster) engineArgs(connFile string, id int) []string {
	return append([]string{"engine", "--file", connFile, "--id", strconv.Itoa(id)}, c.cfg.EngineArgs...)
}

func (c *Cluster) localEngine(id int) *engineEntry { return c.localEngines([]int{id}) }

// localEngines starts one process running the engines ids (consecutive).
func (c *Cluster) localEngines(ids []int) *engineEntry {
	id := ids[0]
	ps := c.procSpec("engines", filepath.Join(c.dir, "log", fmt.Sprintf("engine-%d.log", id)))
	ps.Path, ps.Args, ps.ID, ps.Count = c.cfg.Binary, c.engineArgs(c.EngineFile(), id), id, len(ids)
	if len(ids) > 1 {
		ps.Args = append(ps.Args[:5:5], append([]string{"--count", strconv.Itoa(len(ids))}, ps.Args[5:]...)...)
	}
	return &engineEntry{l: NewProcess(ps), kind: "local", ids: ids}
}

func (c *Cluster) newEngines(ctx context.Context, first, n int, conn *profile.Connection) ([]*engineEntry, error) {
	logDir := filepath.Join(c.dir, "log")
	if k := c.cfg.EnginesPerProcess; k > 1 && c.cfg.Engines != "local" && c.cfg.Engines != "" && n%k != 0 {
		return nil, fmt.Errorf("start %s engines: %d engines do not divide into processes of %d (--engines-per-process)", c.cfg.Engines, n, k)
	}
	if k := c.cfg.EnginesPerProcess; k > 1 && c.cfg.Engines == "ssh" {
		return nil, fmt.Errorf("start ssh engines: --engines-per-process is for the local, MPI and batch launchers")
	}
	switch c.cfg.Engines {
	case "local":
		var out []*engineEntry
		k := max(c.cfg.EnginesPerProcess, 1)
		for i := 0; i < n; i += k {
			out = append(out, c.localEngines(seq(first+i, min(k, n-i))))
		}
		return out, nil
	case "mpi":
		e, err := c.mpiEngines(ctx, first, n)
		if err != nil {
			return nil, err
		}
		return []*engineEntry{e}, nil
	case "ssh":
		hosts := c.cfg.SSH.Hosts
		counts, err := Distribute(hosts, n)
		if err != nil {
			return nil, fmt.Errorf("start ssh engines: %w", err)
		}
		rdir := c.cfg.SSH.RemoteDir
		if rdir == "" {
			rdir = ".pxsh/remote-" + conn.ClusterID
		}
		var out []*engineEntry
		id := first
		for i, h := range hosts {
			if counts[i] == 0 {
				continue
			}
			ids := seq(id, counts[i])
			id += counts[i]
			l := NewSSHEngines(SSHEngineSpec{Target: targetFor(c.cfg.SSH, h.Host), IDs: ids, Binary: c.cfg.Binary,
				ShipBinary: c.cfg.SSH.ShipBinary, RemoteBinary: c.cfg.SSH.RemoteBinary, RemoteDir: rdir,
				ConnFile: c.EngineFile(), EngineArgs: c.cfg.EngineArgs, Runner: c.run,
				Proc: c.procSpec("engines", filepath.Join(logDir, fmt.Sprintf("engines-ssh-%s.log", sanitize(h.Host))))})
			out = append(out, &engineEntry{l: l, kind: "ssh", ids: ids})
		}
		return out, nil
	}
	sys, err := systemFor(c.cfg.Engines, c.cfg.Batch)
	if err != nil {
		return nil, err
	}
	base := append([]string{"engine", "--file", c.EngineFile()}, c.cfg.EngineArgs...)
	data := TemplateData{N: n / max(c.cfg.EnginesPerProcess, 1), FirstID: first, Queue: c.cfg.Batch.Queue, Account: c.cfg.Batch.Account,
		Walltime: c.cfg.Batch.Walltime, ProfileDir: c.dir,
		Output:  filepath.Join(logDir, fmt.Sprintf("engines-%s-%d.log", sys.Name, first)),
		Program: shellQuote(c.cfg.Binary), Args: shellJoin(base),
		Command: shellJoin(rankProgram(c.cfg.Binary, c.EngineFile(), first, c.cfg.EnginesPerProcess, c.cfg.EngineArgs)),
		MPIExec: orDefault(c.cfg.Batch.MPIExec, "mpiexec")}
	if conn != nil {
		data.ClusterID = conn.ClusterID
	}
	b, err := NewBatch(BatchSpec{System: sys, Role: "engines", Template: c.cfg.Batch.EngineTemplate, Data: data,
		Script: filepath.Join(logDir, fmt.Sprintf("engines-%s-%d.sh", sys.Name, first)), Runner: c.run,
		PollInterval: c.cfg.PollInterval, Grace: c.cfg.Grace})
	if err != nil {
		return nil, err
	}
	return []*engineEntry{{l: b, kind: sys.Name, ids: seq(first, n)}}, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == ':' {
			return '_'
		}
		return r
	}, s)
}

func (c *Cluster) mpiEngines(ctx context.Context, first, n int) (*engineEntry, error) {
	cmd := orDefault(c.cfg.MPI.Command, "mpiexec")
	flavor := c.cfg.MPI.Flavor
	if flavor == "" {
		var err error
		if flavor, err = DetectMPI(ctx, c.run, cmd); err != nil {
			return nil, fmt.Errorf("start mpi engines: %w", err)
		}
	}
	spec := MPISpec{Command: cmd, Flavor: flavor, N: n, FirstID: first, Binary: c.cfg.Binary,
		ConnFile: c.EngineFile(), EngineArgs: c.cfg.EngineArgs, Hosts: c.cfg.MPI.Hosts,
		LocalOnly: c.cfg.LocalOnly, Root: os.Geteuid() == 0, Args: c.cfg.MPI.Args, PerRank: c.cfg.EnginesPerProcess}
	ps := c.procSpec("engines", filepath.Join(c.dir, "log", fmt.Sprintf("engines-mpi-%d.log", first)))
	m := NewMPI(spec, ps)
	return &engineEntry{l: m, kind: "mpi", ids: seq(first, n), mpi: m, spec: spec}, nil
}

// watchEngine waits for an engine launcher to end and reports (and with
// RestartEngines restarts) it when the end was not asked for. For MPI it
// also polls the ranks, noticing a single engine dying while mpiexec runs.
func (c *Cluster) watchEngine(e *engineEntry) {
	if e.mpi != nil {
		go c.watchRanks(e)
	}
	<-e.l.Wait()
	c.mu.Lock()
	stopping := c.stopping
	c.mu.Unlock()
	ex := e.l.Exit()
	if stopping || ex.Requested {
		return
	}
	c.emit(Event{Kind: "engine-exit", What: e.l.Record().describe(), IDs: e.ids, Exit: ex})
	if !c.cfg.RestartEngines || (e.kind != "local" && e.kind != "mpi") {
		return
	}
	if !e.started.IsZero() && time.Since(e.started) > stableAfter {
		c.mu.Lock()
		for _, id := range e.ids {
			delete(c.restarts, id)
		}
		c.mu.Unlock()
	}
	c.restart(e, e.ids)
}

func (c *Cluster) watchRanks(e *engineEntry) {
	seen := map[int]bool{}
	restarted := map[int]bool{}
	// with every rank on this host, a rank that never showed up (it
	// failed at once, e.g. its id was refused) counts as dead too
	local := e.mpi.spec.Hosts == ""
	startup := time.Now().Add(2 * c.cfg.PollInterval)
	t := time.NewTicker(c.cfg.PollInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-e.l.Wait():
			return
		case <-c.stopped:
			return
		case <-t.C:
		}
		ranks := e.mpi.Ranks()
		for id := range ranks {
			seen[id] = true
		}
		if local && time.Now().After(startup) {
			for _, id := range e.ids {
				seen[id] = true
			}
		}
		for id := range seen {
			if _, ok := ranks[id]; ok || restarted[id] {
				continue
			}
			// give mpiexec a moment: if the whole job is ending, the
			// launcher exit reports it instead
			select {
			case <-e.l.Wait():
				return
			case <-time.After(c.cfg.PollInterval):
			}
			c.mu.Lock()
			stopping := c.stopping
			c.mu.Unlock()
			if stopping {
				return
			}
			restarted[id] = true
			c.emit(Event{Kind: "engine-exit", What: fmt.Sprintf("mpi engine %d", id), IDs: []int{id}, Exit: Exit{Code: -1, Time: time.Now()}})
			if c.cfg.RestartEngines {
				c.restart(&engineEntry{kind: "local"}, []int{id})
			}
		}
	}
}

// restart starts replacements for ids: one local engine each for a dead
// local engine or rank, the whole mpiexec again for an MPI job.
func (c *Cluster) restart(old *engineEntry, ids []int) {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return
	}
	attempt := 0
	for _, id := range ids {
		c.restarts[id]++
		attempt = max(attempt, c.restarts[id])
		if c.restarts[id] > maxRestarts {
			c.mu.Unlock()
			c.emit(Event{Kind: "restart-failed", What: fmt.Sprintf("engine %d", id), IDs: ids,
				Err: fmt.Errorf("gave up after %d restarts", maxRestarts)})
			return
		}
	}
	c.mu.Unlock()
	if attempt > 1 {
		select {
		case <-time.After(restartDelay << (attempt - 2)):
		case <-c.stopped:
			return
		}
	}
	var ne []*engineEntry
	if old.kind == "mpi" && old.mpi != nil {
		spec := old.mpi.spec
		ps := old.mpi.Process.spec
		ps.OnLine = nil
		m := NewMPI(spec, ps)
		ne = []*engineEntry{{l: m, kind: "mpi", ids: old.ids, mpi: m, spec: spec}}
	} else if old.kind == "local" && len(ids) > 1 && ids[len(ids)-1]-ids[0] == len(ids)-1 {
		ne = []*engineEntry{c.localEngines(ids)} // a dense process, again as one
	} else {
		for _, id := range ids {
			ne = append(ne, c.localEngine(id))
		}
	}
	for _, e := range ne {
		if err := e.l.Start(context.Background()); err != nil {
			c.emit(Event{Kind: "restart-failed", What: e.l.Record().describe(), IDs: e.ids, Err: err})
			continue
		}
		e.started = time.Now()
		c.mu.Lock()
		if c.stopping {
			c.mu.Unlock()
			e.l.Stop(context.Background())
			return
		}
		c.engines = append(c.engines, e)
		c.mu.Unlock()
		c.save(nil)
		c.emit(Event{Kind: "restart", What: e.l.Record().describe(), IDs: e.ids})
		go c.watchEngine(e)
	}
}

// save rewrites this process's records in cluster.json (records of other
// owners are kept); f may adjust the state.
func (c *Cluster) save(f func(*ClusterState)) error {
	me := c.owner
	c.mu.Lock()
	var recs []Record
	if c.controller != nil {
		r := c.controller.Record()
		r.Role, r.Owner = "controller", me
		recs = append(recs, r)
	}
	for _, e := range c.engines {
		if e.l.State() == StateStopped {
			continue
		}
		r := e.l.Record()
		r.Role, r.Owner = "engines", me
		recs = append(recs, r)
	}
	c.mu.Unlock()
	return updateState(c.dir, func(s *ClusterState) (*ClusterState, error) {
		if s == nil {
			s = &ClusterState{Started: time.Now()}
		}
		s.ProfileDir, s.Engines, s.Controller = c.dir, c.cfg.Engines, c.cfg.Controller
		if c.cfg.Allow != "" {
			s.Allow = c.cfg.Allow
		}
		keep := recs
		for _, r := range s.Records {
			if r.Owner != me {
				keep = append(keep, r)
			}
		}
		s.Records = keep
		if f != nil {
			f(s)
		}
		return s, nil
	})
}

// SetSupervisor records the current process as the cluster's supervisor
// in cluster.json.
func (c *Cluster) SetSupervisor() error {
	pid := os.Getpid()
	return c.save(func(s *ClusterState) {
		s.Supervisor = &ProcRecord{PID: pid, Start: procStartTime(pid), ID: -1}
	})
}

// Pending describes every engine launcher that is not running any more,
// and the batch jobs (which may still be queued): what to name when
// engines did not register.
func (c *Cluster) Pending() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.engines {
		r := e.l.Record()
		switch {
		case e.l.State() == StateStopped:
			out = append(out, r.describe()+": "+e.l.Exit().String())
		case r.JobID != "":
			state := "submitted, may still be queued"
			if b, ok := e.l.(*Batch); ok {
				if s := b.Status(context.Background()); s != "" {
					state = "state " + s
				}
			}
			out = append(out, r.describe()+": "+state)
		}
	}
	return out
}

// Stop stops every engine, then the controller, then whatever else
// cluster.json records (engines added by other processes), and removes
// cluster.json and the connection files (and a private temporary
// profile). It is idempotent.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopping = true
		engines := append([]*engineEntry(nil), c.engines...)
		ctl := c.controller
		c.mu.Unlock()
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		for _, e := range engines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := e.l.Stop(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ctl != nil {
			if err := ctl.Stop(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		me := c.owner
		err := updateState(c.dir, func(s *ClusterState) (*ClusterState, error) {
			if s == nil {
				return nil, nil
			}
			for _, r := range s.Records {
				if r.Owner == me {
					continue
				}
				if err := StopRecord(ctx, r, c.run, c.cfg.Grace); err != nil {
					errs = append(errs, err)
				}
			}
			return nil, nil
		})
		if err != nil {
			errs = append(errs, err)
		}
		for _, f := range []string{c.EngineFile(), c.ClientFile()} {
			os.Remove(f)
		}
		if c.tempDir {
			os.RemoveAll(c.dir)
		}
		c.stopErr = errors.Join(errs...)
		close(c.stopped)
	})
	<-c.stopped
	return c.stopErr
}

// StopProfile stops the cluster recorded in dir from any process: it
// asks the supervisor (if alive) to stop everything (SIGTERM) and waits
// for it, then stops whatever is still recorded and removes cluster.json
// and the connection files. A profile without cluster gives ErrNoCluster.
func StopProfile(ctx context.Context, dir string, run Runner, grace time.Duration) error {
	st, err := ReadState(dir)
	if err != nil {
		return err
	}
	if grace <= 0 {
		grace = DefaultGrace
	}
	if sup := st.Supervisor; sup != nil && sup.PID != os.Getpid() && alive(sup.PID, sup.Start) {
		p := *sup
		if err := killProcOnly(p); err == nil {
			waitGone(ctx, p, 4*grace)
		}
	}
	var errs []error
	err = updateState(dir, func(s *ClusterState) (*ClusterState, error) {
		if s == nil {
			return nil, nil
		}
		// engines first, the controller last
		for _, role := range []string{"engines", "controller"} {
			for _, r := range s.Records {
				if r.Role != role {
					continue
				}
				if err := StopRecord(ctx, r, run, grace); err != nil {
					errs = append(errs, err)
				}
			}
		}
		return nil, nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	for _, f := range []string{profile.ConnectionPath(dir, true), profile.ConnectionPath(dir, false)} {
		os.Remove(f)
	}
	return errors.Join(errs...)
}
